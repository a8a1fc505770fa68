// Generation outcomes -> OpenAI API response objects (openai_api.h).
#include "serve/openai_api.h"

namespace longctx::serve {

using json = nlohmann::json;

std::string token_text(const io::Tokenizer& tok, int32_t id) {
  if (tok.is_control(id)) return "";
  const std::string piece = tok.piece(id);
  if (tok.is_byte(id) && piece.size() == 6 && piece.rfind("<0x", 0) == 0)  // "<0x0A>"
    return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  static const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

const char* finish_reason(model::StopReason r) {
  switch (r) {
    case model::StopReason::kMaxTokens:
    case model::StopReason::kContextFull: return "length";
    default: return "stop";
  }
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

namespace {

json top_map(const io::Tokenizer& tok, const TokenLogprob& lp) {
  json m = json::object();
  for (const auto& [id, v] : lp.top) m[token_text(tok, id)] = v;
  return m;
}

json byte_list(const std::string& s) {
  json b = json::array();
  for (unsigned char ch : s) b.push_back(ch);
  return b;
}

json chat_logprob_entry(const io::Tokenizer& tok, const TokenLogprob& lp) {
  const std::string t = token_text(tok, lp.token);
  json top = json::array();
  for (const auto& [id, v] : lp.top) {
    const std::string tt = token_text(tok, id);
    top.push_back({{"token", tt}, {"logprob", v}, {"bytes", byte_list(tt)}});
  }
  return {{"token", t}, {"logprob", lp.logprob}, {"bytes", byte_list(t)}, {"top_logprobs", top}};
}

// Completions logprobs object over (optional) prompt tokens then generated tokens.
// leading_space_dropped: the echoed prompt text does not start with the space its first
// piece carries.
json completion_logprobs(const io::Tokenizer& tok, const std::vector<int32_t>* prompt,
                         const GenerationOutcome& o, size_t text_start, bool leading_space_dropped) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = text_start;
  auto add = [&](const std::string& t, const TokenLogprob* lp) {
    tokens.push_back(t);
    lps.push_back(lp ? json(lp->logprob) : json(nullptr));
    tops.push_back(lp ? top_map(tok, *lp) : json(nullptr));
    offsets.push_back(offset);
    offset += t.size();
  };
  if (prompt) {
    offset = 0;
    bool first_text = true;  // a text's first piece loses its leading space (SentencePiece)
    for (size_t i = 0; i < prompt->size(); ++i) {
      std::string t = token_text(tok, (*prompt)[i]);
      if (first_text && !t.empty()) {
        if (t[0] == ' ' && leading_space_dropped) t.erase(0, 1);
        first_text = false;
      }
      add(t, i == 0 || i - 1 >= o.prompt_logprobs.size() ? nullptr : &o.prompt_logprobs[i - 1]);
    }
  }
  for (size_t i = 0; i < o.tokens.size(); ++i)
    add(token_text(tok, o.tokens[i]), i < o.token_logprobs.size() ? &o.token_logprobs[i] : nullptr);
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace

json completion_response(const ResponseContext& c, const CompletionParams& p,
                         const std::vector<std::string>& prompt_texts,
                         const std::vector<std::vector<int32_t>>& prompts,
                         const std::vector<GenerationOutcome>& outcomes) {
  json choices = json::array();
  int64_t prompt_tokens = 0, completion_tokens = 0, cached = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const GenerationOutcome& o = outcomes[i];
    const std::string text = (p.echo ? prompt_texts[i] : std::string()) + o.text;
    json choice = {{"index", i}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish_reason(o.reason)}};
    if (p.logprobs >= 0)
      choice["logprobs"] = completion_logprobs(*c.tokenizer, p.echo ? &prompts[i] : nullptr, o,
                                               p.echo ? prompt_texts[i].size() : 0,
                                               prompt_texts[i].empty() || prompt_texts[i][0] != ' ');
    choices.push_back(choice);
    prompt_tokens += o.prompt_tokens;
    completion_tokens += static_cast<int64_t>(o.tokens.size());
    cached += o.cached_tokens;
  }
  return {{"id", c.id},         {"object", "text_completion"}, {"created", c.created},
          {"model", c.model},   {"choices", choices},
          {"usage", usage_json(prompt_tokens, completion_tokens, cached)}};
}

json chat_response(const ResponseContext& c, const CompletionParams& p, const GenerationOutcome& o) {
  json choice = {{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", o.text}}},
                 {"logprobs", nullptr},
                 {"finish_reason", finish_reason(o.reason)}};
  if (p.logprobs >= 0) {
    json content = json::array();
    for (const TokenLogprob& lp : o.token_logprobs) content.push_back(chat_logprob_entry(*c.tokenizer, lp));
    choice["logprobs"] = {{"content", content}};
  }
  return {{"id", c.id},       {"object", "chat.completion"}, {"created", c.created},
          {"model", c.model}, {"choices", json::array({choice})},
          {"usage", usage_json(o.prompt_tokens, static_cast<int64_t>(o.tokens.size()), o.cached_tokens)}};
}

json completion_chunk(const ResponseContext& c, const std::string& text, const std::optional<TokenLogprob>& lp,
                      const char* finish) {
  json choice = {{"index", 0}, {"text", text}, {"logprobs", nullptr},
                 {"finish_reason", finish ? json(finish) : json(nullptr)}};
  if (lp) {
    const std::string t = token_text(*c.tokenizer, lp->token);
    choice["logprobs"] = {{"tokens", {t}}, {"token_logprobs", {lp->logprob}},
                          {"top_logprobs", {top_map(*c.tokenizer, *lp)}}, {"text_offset", {0}}};
  }
  return {{"id", c.id}, {"object", "text_completion"}, {"created", c.created}, {"model", c.model},
          {"choices", json::array({choice})}};
}

json chat_chunk(const ResponseContext& c, const std::optional<std::string>& role,
                const std::optional<std::string>& text, const std::optional<TokenLogprob>& lp,
                const char* finish) {
  json delta = json::object();
  if (role) delta["role"] = *role;
  if (text) delta["content"] = *text;
  json choice = {{"index", 0}, {"delta", delta}, {"logprobs", nullptr},
                 {"finish_reason", finish ? json(finish) : json(nullptr)}};
  if (lp) choice["logprobs"] = {{"content", json::array({chat_logprob_entry(*c.tokenizer, *lp)})}};
  return {{"id", c.id}, {"object", "chat.completion.chunk"}, {"created", c.created}, {"model", c.model},
          {"choices", json::array({choice})}};
}

json usage_chunk(const ResponseContext& c, bool chat, const GenerationOutcome& o) {
  return {{"id", c.id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", c.created},
          {"model", c.model},
          {"choices", json::array()},
          {"usage", usage_json(o.prompt_tokens, static_cast<int64_t>(o.tokens.size()), o.cached_tokens)}};
}

}  // namespace longctx::serve
