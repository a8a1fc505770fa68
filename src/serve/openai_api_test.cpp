// Request parsing (every error names its field, with status 400), response shapes, and the
// chat templates.
#include "serve/openai_api.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/stories_fixture.h"
#include "io/tiny_tokenizer_fixture.h"
#include "serve/chat_template.h"

namespace longctx::serve {
namespace {

using json = nlohmann::json;

// The ApiError a body gives: status 400, param as expected, message mentioning it.
void expect_rejected(const std::string& body, const std::string& param, bool chat = false) {
  SCOPED_TRACE(body);
  try {
    chat ? parse_chat_request(body) : parse_completion_request(body);
    ADD_FAILURE() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, param) << e.what();
    if (!param.empty()) {
      EXPECT_NE(std::string(e.what()).find(param), std::string::npos) << e.what();
    }
    EXPECT_EQ(e.to_json()["error"]["type"], "invalid_request_error");
  }
}

TEST(OpenAiRequest, CompletionFieldsAndDefaults) {
  const CompletionParams p = parse_completion_request(
      R"({"model":"x","prompt":"Once","max_tokens":5,"temperature":0,"stop":["\n","."],"logprobs":2,"echo":true,
          "seed":7,"user":"u","n":1,"stream":false,"presence_penalty":0})");
  ASSERT_EQ(p.prompts.size(), 1u);
  EXPECT_EQ(*p.prompts[0].text, "Once");
  EXPECT_EQ(*p.max_tokens, 5);
  EXPECT_EQ(p.temperature, 0.0f);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"\n", "."}));
  EXPECT_EQ(p.logprobs, 2);
  EXPECT_TRUE(p.echo);
  EXPECT_EQ(*p.seed, 7u);
  const CompletionParams ids = parse_completion_request(R"({"prompt":[1,5,9]})");
  EXPECT_EQ(ids.prompts[0].ids, (std::vector<int32_t>{1, 5, 9}));
  EXPECT_FALSE(ids.max_tokens.has_value());
  EXPECT_EQ(ids.logprobs, -1);
  const CompletionParams many = parse_completion_request(R"({"prompt":["a",[1,2]],"max_tokens":null})");
  EXPECT_EQ(many.prompts.size(), 2u);
  const CompletionParams usage = parse_completion_request(R"({"prompt":"a","stream":true,"stream_options":{"include_usage":true}})");
  EXPECT_TRUE(usage.include_usage);
}

TEST(OpenAiRequest, BadBodiesNameTheField) {
  expect_rejected("{not json", "");
  expect_rejected("[1,2]", "");
  expect_rejected("{}", "prompt");
  expect_rejected(R"({"prompt":5})", "prompt");
  expect_rejected(R"({"prompt":[]})", "prompt");
  expect_rejected(R"({"prompt":[1,-2]})", "prompt[1]");
  expect_rejected(R"({"prompt":"a","max_tokens":"ten"})", "max_tokens");
  expect_rejected(R"({"prompt":"a","max_tokens":2.5})", "max_tokens");
  expect_rejected(R"({"prompt":"a","max_tokens":-1})", "max_tokens");
  expect_rejected(R"({"prompt":"a","temperature":"hot"})", "temperature");
  expect_rejected(R"({"prompt":"a","temperature":3})", "temperature");
  expect_rejected(R"({"prompt":"a","top_p":0})", "top_p");
  expect_rejected(R"({"prompt":"a","stop":[1]})", "stop[0]");
  expect_rejected(R"({"prompt":"a","stop":""})", "stop");
  expect_rejected(R"({"prompt":"a","stream":"yes"})", "stream");
  expect_rejected(R"({"prompt":"a","stream_options":{"include_usage":true}})", "stream_options");
  expect_rejected(R"({"prompt":"a","stream":true,"stream_options":{"include_usage":1}})", "stream_options.include_usage");
  expect_rejected(R"({"prompt":"a","n":2})", "n");
  expect_rejected(R"({"prompt":"a","logprobs":99})", "logprobs");
  expect_rejected(R"({"prompt":"a","logit_bias":{"5":1}})", "logit_bias");
  expect_rejected(R"({"prompt":"a","frequency_penalty":1})", "frequency_penalty");
  expect_rejected(R"({"prompt":"a","suffix":"x"})", "suffix");
  expect_rejected(R"({"prompt":["a","b"],"stream":true})", "prompt");
}

TEST(OpenAiRequest, ChatMessagesAndOptions) {
  const CompletionParams p = parse_chat_request(
      R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"!"}]}],
          "max_completion_tokens":9,"logprobs":true,"top_logprobs":3})");
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[1].content, "Hi!");
  EXPECT_EQ(*p.max_tokens, 9);
  EXPECT_EQ(p.logprobs, 3);
  EXPECT_EQ(parse_chat_request(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true})").logprobs, 0);
  expect_rejected(R"({"messages":[]})", "messages", true);
  expect_rejected(R"({"messages":"hi"})", "messages", true);
  expect_rejected(R"({"messages":[{"content":"x"}]})", "messages[0].role", true);
  expect_rejected(R"({"messages":[{"role":"user","content":7}]})", "messages[0].content", true);
  expect_rejected(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content[0]", true);
  expect_rejected(R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", "top_logprobs", true);
  expect_rejected(R"({"messages":[{"role":"user","content":"x"}],"tools":[{}]})", "tools", true);
}

TEST(OpenAiResponse, ShapesCarryUsageAndFinishReason) {
  const io::Tokenizer tok = test_fixtures::tiny_tokenizer(16);
  ResponseContext c{"cmpl-1", "m", 123, &tok};
  CompletionParams p = parse_completion_request(R"({"prompt":"w3","logprobs":1,"echo":true})");
  GenerationOutcome o;
  o.reason = model::StopReason::kMaxTokens;
  o.text = " w5";
  o.tokens = {5};
  o.prompt_tokens = 2;
  o.cached_tokens = 1;
  o.token_logprobs = {TokenLogprob{5, -0.5f, {{5, -0.5f}}}};
  o.prompt_logprobs = {TokenLogprob{3, -1.25f, {{3, -1.25f}}}};
  const json r = completion_response(c, p, {"w3"}, {{1, 3}}, {o});
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["choices"][0]["text"], "w3 w5");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(r["usage"]["total_tokens"], 3);
  EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
  const json& lp = r["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json({"", "w3", " w5"}));  // BOS (control) empty; the text's first space dropped
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_EQ(lp["token_logprobs"][1], -1.25f);
  EXPECT_EQ(lp["top_logprobs"][2][" w5"], -0.5f);
  EXPECT_EQ(lp["text_offset"], json({0, 0, 2}));  // offsets into "w3 w5"
  p.chat = true;
  p.logprobs = 1;
  o.reason = model::StopReason::kStopToken;
  const json chat = chat_response(c, p, o);
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(chat["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chat["choices"][0]["logprobs"]["content"][0]["token"], " w5");
  const json chunk = chat_chunk(c, std::nullopt, std::string("x"), std::nullopt, nullptr);
  EXPECT_EQ(chunk["choices"][0]["delta"]["content"], "x");
  EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(ApiError(503, "busy").to_json()["error"]["type"], "server_overloaded");
}

TEST(ChatTemplate, Llama2RenderingAndHistory) {
  const std::string model_path = test_fixtures::kData + "/models/llama2-tokenizer.model";
  if (!std::filesystem::exists(model_path)) GTEST_SKIP() << "no ../shared/data";
  const io::Tokenizer tok = io::Tokenizer::from_file(model_path);
  const std::vector<ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};
  std::vector<int32_t> want = tok.encode("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! ", true, true);
  const std::vector<int32_t> second = tok.encode("[INST] Bye [/INST]", true);
  want.insert(want.end(), second.begin(), second.end());
  EXPECT_EQ(render_chat(tok, m, ChatTemplate::kLlama2), want);
  EXPECT_EQ(render_user_turn(tok, "Bye", ChatTemplate::kLlama2), second);
  // "</s>" typed by a user is text, not the end-of-sequence id.
  const auto typed = render_chat(tok, {{"user", "</s>"}}, ChatTemplate::kLlama2);
  EXPECT_EQ(std::count(typed.begin(), typed.end(), tok.eos_id()), 0);
  EXPECT_EQ(render_chat(tok, {{"user", "a"}, {"assistant", "b"}, {"user", "c"}}, ChatTemplate::kPlain),
            tok.encode("a\nbc\n", true));
  try {
    render_chat(tok, {{"user", "a"}, {"user", "b"}}, ChatTemplate::kLlama2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("messages[1].role"), std::string::npos) << e.what();
  }
  EXPECT_THROW(render_chat(tok, {{"robot", "a"}}, ChatTemplate::kPlain), Error);
  EXPECT_THROW(render_chat(tok, {{"user", "a"}, {"assistant", "b"}}, ChatTemplate::kLlama2), Error);
  // History: the oldest exchange goes first, the system message stays.
  std::vector<ChatMessage> h = {{"system", "S"}, {"user", std::string(200, 'a')}, {"assistant", "x"}, {"user", "q"}};
  const int64_t full = static_cast<int64_t>(render_chat(tok, h, ChatTemplate::kLlama2).size());
  EXPECT_EQ(fit_history(tok, h, ChatTemplate::kLlama2, full), 0);
  EXPECT_EQ(fit_history(tok, h, ChatTemplate::kLlama2, full - 1), 2);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].role, "system");
  EXPECT_THROW(fit_history(tok, h, ChatTemplate::kLlama2, 3), Error);
  EXPECT_EQ(parse_chat_template("plain", "--template"), ChatTemplate::kPlain);
  EXPECT_THROW(parse_chat_template("chatml", "--template"), Error);
}

}  // namespace
}  // namespace longctx::serve
