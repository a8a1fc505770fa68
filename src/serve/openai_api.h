// The OpenAI API's JSON shapes: request bodies of /v1/completions and /v1/chat/completions
// parsed and checked (a bad body is an ApiError with status 400 naming the field), and the
// response, stream-chunk and error objects built from a generation's outcome.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/tokenizer.h"
#include "model/decode.h"
#include "serve/chat_template.h"
#include "serve/scheduler.h"

namespace longctx::serve {

// An error answered to the client: HTTP status plus OpenAI's error object
// {"error": {"message", "type", "param", "code"}}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "", std::string type = "")
      : std::runtime_error(message), status(status), param(std::move(param)),
        type(type.empty() ? default_type(status) : std::move(type)) {}
  int status;
  std::string param, type;
  nlohmann::json to_json() const;

 private:
  static std::string default_type(int status);
};

// One prompt of /v1/completions: text (BOS is added) or token ids (used as given).
struct PromptInput {
  std::optional<std::string> text;
  std::vector<int32_t> ids;
};

struct CompletionParams {
  bool chat = false;
  std::string model;                   // informational (one model is served)
  std::vector<PromptInput> prompts;    // completions
  std::vector<ChatMessage> messages;   // chat
  std::optional<int64_t> max_tokens;   // absent: up to the end of the context
  float temperature = 1.0f, top_p = 1.0f;
  int64_t top_k = 0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false, include_usage = false;
  bool echo = false;                   // completions: prompt text (and logprobs) in the choice
  int logprobs = -1;                   // top alternatives per token; < 0 = no logprobs
};

// Parses a request body; throws ApiError(400) naming the field for malformed JSON, fields
// of the wrong type or out of range, and unsupported options (n > 1, logit_bias, ...).
// Unknown fields are ignored, as OpenAI's clients send extras.
CompletionParams parse_completion_request(const std::string& body);
CompletionParams parse_chat_request(const std::string& body);

// Text of one token as the logprobs lists show it (SentencePiece's U+2581 as a space,
// byte tokens as their byte, control tokens empty).
std::string token_text(const io::Tokenizer& tok, int32_t id);

// "stop" (stop token or string), "length" (max_tokens or context full).
const char* finish_reason(model::StopReason r);

struct ResponseContext {
  std::string id, model;
  int64_t created = 0;
  const io::Tokenizer* tokenizer = nullptr;
};

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);

// Whole responses. choices: one outcome per prompt (completions) or one (chat); prompts:
// the token ids of each prompt (for echo with logprobs).
nlohmann::json completion_response(const ResponseContext& c, const CompletionParams& p,
                                   const std::vector<std::string>& prompt_texts,
                                   const std::vector<std::vector<int32_t>>& prompts,
                                   const std::vector<GenerationOutcome>& outcomes);
nlohmann::json chat_response(const ResponseContext& c, const CompletionParams& p,
                             const GenerationOutcome& outcome);

// Stream chunks (each sent as "data: <json>\n\n").
nlohmann::json completion_chunk(const ResponseContext& c, const std::string& text,
                                 const std::optional<TokenLogprob>& lp, const char* finish);
nlohmann::json chat_chunk(const ResponseContext& c, const std::optional<std::string>& role,
                          const std::optional<std::string>& text, const std::optional<TokenLogprob>& lp,
                          const char* finish);
// The final usage-only chunk (stream_options.include_usage).
nlohmann::json usage_chunk(const ResponseContext& c, bool chat, const GenerationOutcome& o);

}  // namespace longctx::serve
