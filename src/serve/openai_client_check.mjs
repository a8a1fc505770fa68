// Client-side check of `longctx serve` with OpenAI's own Node.js client (the `openai` npm
// package, installed by `scripts/install-deps.sh --openai-client`; run by the CLI test
// ServeCli.OpenAiNodeClient, which skips with a message when Node.js or the package is absent).
//
//   node openai_client_check.mjs <base url> <api key> <expected greedy text from BOS> <client dir>
//
// <client dir> holds node_modules/openai (ES modules do not search NODE_PATH). Prints one line
// per check and exits non-zero when any fails.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [base, apiKey, expected, clientDir] = process.argv.slice(2);
const { default: OpenAI } = await import(pathToFileURL(join(clientDir, 'node_modules/openai/index.mjs')).href);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 60000 });
let failures = 0;
function check(cond, what, detail = '') {
  console.log(`${cond ? 'ok' : 'FAIL'}: ${what}${cond ? '' : ' ' + detail}`);
  if (!cond) failures++;
}

const models = await client.models.list();
const model = models.data[0].id;
check(models.data.length === 1 && models.data[0].context_length > 0, 'models.list gives one model with its context length',
      JSON.stringify(models.data));

// Completions, whole and streamed (with the usage chunk), greedy from BOS.
const whole = await client.completions.create({ model, prompt: '', max_tokens: 40, temperature: 0 });
check(whole.choices[0].text.startsWith(expected), 'completions: greedy text', JSON.stringify(whole.choices[0].text));
check(whole.choices[0].finish_reason === 'length' && whole.usage.completion_tokens === 40 &&
      whole.usage.prompt_tokens_details.cached_tokens >= 0, 'completions: usage and finish_reason', JSON.stringify(whole.usage));
const stream = await client.completions.create({ model, prompt: '', max_tokens: 40, temperature: 0, stream: true,
                                                 stream_options: { include_usage: true } });
let streamed = '', usage = null, finish = null;
for await (const chunk of stream) {
  if (chunk.choices.length) {
    streamed += chunk.choices[0].text;
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
check(streamed === whole.choices[0].text, 'completions stream: same text', JSON.stringify(streamed));
check(finish === 'length' && usage?.completion_tokens === 40, 'completions stream: finish_reason and usage chunk',
      JSON.stringify({ finish, usage }));

// Echo with logprobs (what evaluation harnesses send through their completions backends).
const lp = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 0, echo: true, logprobs: 1 });
const l = lp.choices[0].logprobs;
check(lp.choices[0].text === 'Once upon a time' && l.tokens.length === lp.usage.prompt_tokens &&
      l.token_logprobs[0] === null && l.token_logprobs.slice(1).every((v) => v <= 0),
      'completions: echo with prompt logprobs', JSON.stringify(lp.choices[0]));

// Chat, whole and streamed.
const messages = [{ role: 'user', content: 'Tell me a story.' }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0 });
check(chat.choices[0].message.role === 'assistant' && chat.choices[0].message.content.length > 0,
      'chat: an assistant message', JSON.stringify(chat.choices[0]));
const chatStream = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0, stream: true });
let content = '', role = null;
for await (const chunk of chatStream) {
  const d = chunk.choices[0]?.delta ?? {};
  role = d.role ?? role;
  content += d.content ?? '';
}
check(role === 'assistant' && content === chat.choices[0].message.content, 'chat stream: same content',
      JSON.stringify(content));

// Errors arrive as the client's typed errors, with the field named.
try {
  await client.completions.create({ model, prompt: 'x', max_tokens: 'ten' });
  check(false, 'bad field type refused');
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.param === 'max_tokens', 'bad field type: 400 naming max_tokens',
        `${e.status} ${e.message}`);
}
try {
  await new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list();
  check(false, 'wrong key refused');
} catch (e) {
  check(e instanceof OpenAI.AuthenticationError, 'wrong key: 401', `${e.status} ${e.message}`);
}
process.exit(failures ? 1 : 0);
