// Request bodies of the OpenAI API -> CompletionParams (openai_api.h).
#include <limits>

#include "core/error.h"
#include "serve/openai_api.h"

namespace longctx::serve {

using json = nlohmann::json;

std::string ApiError::default_type(int status) {
  if (status == 401) return "authentication_error";
  if (status == 503) return "server_overloaded";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

json ApiError::to_json() const {
  return {{"error",
           {{"message", what()}, {"type", type}, {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", nullptr}}}};
}

namespace {

constexpr int kMaxLogprobs = 20;
constexpr size_t kMaxStops = 16;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, "'" + param + "' " + message, param);
}

// Reads optional fields of one JSON object, checking their types (null = absent).
class Fields {
 public:
  // prefix names nested fields in errors ("stream_options.").
  explicit Fields(const json& j, std::string prefix = "") : j_(j), prefix_(std::move(prefix)) {}
  const json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  std::optional<int64_t> integer(const char* key, int64_t lo, int64_t hi) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) bad(prefix_ + key, "must be an integer, got " + type_of(*v));
    const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                          ? INT64_MAX
                          : v->get<int64_t>();
    if (x < lo || x > hi) bad(prefix_ + key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v->dump());
    return x;
  }
  std::optional<double> number(const char* key, double lo, double hi) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) bad(prefix_ + key, "must be a number, got " + type_of(*v));
    const double x = v->get<double>();
    if (!(x >= lo && x <= hi)) bad(prefix_ + key, "must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " + v->dump());
    return x;
  }
  std::optional<bool> boolean(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) bad(prefix_ + key, "must be true or false, got " + type_of(*v));
    return v->get<bool>();
  }
  std::optional<std::string> string(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) bad(prefix_ + key, "must be a string, got " + type_of(*v));
    return v->get<std::string>();
  }

  static std::string type_of(const json& v) {
    if (v.is_string()) return "a string";
    if (v.is_boolean()) return "a boolean";
    if (v.is_number_integer()) return "an integer";
    if (v.is_number()) return "a number";
    if (v.is_array()) return "an array";
    if (v.is_object()) return "an object";
    return "null";
  }

 private:
  const json& j_;
  std::string prefix_;
};

json parse_body(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object, got " + Fields::type_of(j));
  return j;
}

// Fields shared by both endpoints.
void parse_common(const json& j, CompletionParams& p) {
  const Fields f(j);
  p.model = f.string("model").value_or("");
  if (auto n = f.integer("n", 1, 1 << 20); n && *n != 1) bad("n", "must be 1 (one choice per prompt is supported)");
  p.temperature = static_cast<float>(f.number("temperature", 0.0, 2.0).value_or(1.0));
  p.top_p = static_cast<float>(f.number("top_p", 0.0, 1.0).value_or(1.0));
  if (p.top_p <= 0.0f) bad("top_p", "must be greater than 0");
  p.top_k = f.integer("top_k", 0, std::numeric_limits<int32_t>::max()).value_or(0);
  if (auto s = f.integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
    p.seed = static_cast<uint64_t>(*s);
  for (const char* penalty : {"presence_penalty", "frequency_penalty"})
    if (auto v = f.number(penalty, -2.0, 2.0); v && *v != 0.0) bad(penalty, "is not supported (only 0)");
  if (const json* lb = f.find("logit_bias")) {
    if (!lb->is_object()) bad("logit_bias", "must be an object, got " + Fields::type_of(*lb));
    if (!lb->empty()) bad("logit_bias", "is not supported");
  }
  f.string("user");
  if (const json* stop = f.find("stop")) {
    if (stop->is_string()) {
      p.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > kMaxStops) bad("stop", "has more than " + std::to_string(kMaxStops) + " strings");
      for (size_t i = 0; i < stop->size(); ++i) {
        if (!(*stop)[i].is_string()) bad("stop[" + std::to_string(i) + "]", "must be a string");
        p.stop.push_back((*stop)[i].get<std::string>());
      }
    } else {
      bad("stop", "must be a string or an array of strings, got " + Fields::type_of(*stop));
    }
    for (size_t i = 0; i < p.stop.size(); ++i)
      if (p.stop[i].empty()) bad("stop", "contains an empty string");
  }
  p.stream = f.boolean("stream").value_or(false);
  if (const json* so = f.find("stream_options")) {
    if (!so->is_object()) bad("stream_options", "must be an object, got " + Fields::type_of(*so));
    if (!p.stream) bad("stream_options", "is only allowed with stream: true");
    p.include_usage = Fields(*so, "stream_options.").boolean("include_usage").value_or(false);
  }
}

std::vector<int32_t> token_array(const json& a, const std::string& param) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_number_integer() || a[i].get<int64_t>() < 0 || a[i].get<int64_t>() > INT32_MAX)
      bad(param + "[" + std::to_string(i) + "]", "must be a token id (a non-negative integer)");
    ids.push_back(static_cast<int32_t>(a[i].get<int64_t>()));
  }
  return ids;
}

}  // namespace

CompletionParams parse_completion_request(const std::string& body) {
  const json j = parse_body(body);
  CompletionParams p;
  parse_common(j, p);
  const Fields f(j);
  const json* prompt = f.find("prompt");
  if (!prompt) bad("prompt", "is required");
  if (prompt->is_string()) {
    p.prompts.push_back(PromptInput{prompt->get<std::string>(), {}});
  } else if (prompt->is_array() && !prompt->empty()) {
    if ((*prompt)[0].is_number_integer()) {
      p.prompts.push_back(PromptInput{std::nullopt, token_array(*prompt, "prompt")});
    } else {
      for (size_t i = 0; i < prompt->size(); ++i) {
        const json& e = (*prompt)[i];
        const std::string name = "prompt[" + std::to_string(i) + "]";
        if (e.is_string())
          p.prompts.push_back(PromptInput{e.get<std::string>(), {}});
        else if (e.is_array() && !e.empty())
          p.prompts.push_back(PromptInput{std::nullopt, token_array(e, name)});
        else
          bad(name, "must be a string or a non-empty array of token ids");
      }
    }
  } else {
    bad("prompt", "must be a string, an array of strings, or (arrays of) token ids; got " +
                      (prompt->is_array() ? std::string("an empty array") : Fields::type_of(*prompt)));
  }
  p.max_tokens = f.integer("max_tokens", 0, std::numeric_limits<int64_t>::max());
  p.echo = f.boolean("echo").value_or(false);
  if (auto lp = f.integer("logprobs", 0, kMaxLogprobs)) p.logprobs = static_cast<int>(*lp);
  if (auto bo = f.integer("best_of", 1, 1 << 20); bo && *bo != 1) bad("best_of", "must be 1");
  if (f.find("suffix")) bad("suffix", "is not supported");
  if (p.stream && p.prompts.size() > 1) bad("prompt", "must be a single prompt when streaming");
  return p;
}

CompletionParams parse_chat_request(const std::string& body) {
  const json j = parse_body(body);
  CompletionParams p;
  p.chat = true;
  parse_common(j, p);
  const Fields f(j);
  const json* messages = f.find("messages");
  if (!messages) bad("messages", "is required");
  if (!messages->is_array() || messages->empty())
    bad("messages", "must be a non-empty array of messages, got " + Fields::type_of(*messages));
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string name = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad(name, "must be an object with role and content");
    ChatMessage cm;
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad(name + ".role", "must be a string");
    cm.role = role->get<std::string>();
    const auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      cm.content.clear();
    } else if (content->is_string()) {
      cm.content = content->get<std::string>();
    } else if (content->is_array()) {  // [{"type": "text", "text": "..."}]
      for (size_t k = 0; k < content->size(); ++k) {
        const json& part = (*content)[k];
        const std::string pname = name + ".content[" + std::to_string(k) + "]";
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string())
          bad(pname, "must be {\"type\": \"text\", \"text\": \"...\"} (only text is supported)");
        cm.content += part["text"].get<std::string>();
      }
    } else {
      bad(name + ".content", "must be a string or an array of text parts, got " + Fields::type_of(*content));
    }
    p.messages.push_back(std::move(cm));
  }
  p.max_tokens = f.integer("max_completion_tokens", 0, std::numeric_limits<int64_t>::max());
  if (!p.max_tokens) p.max_tokens = f.integer("max_tokens", 0, std::numeric_limits<int64_t>::max());
  const bool logprobs = f.boolean("logprobs").value_or(false);
  const auto top = f.integer("top_logprobs", 0, kMaxLogprobs);
  if (top && !logprobs) bad("top_logprobs", "needs logprobs: true");
  if (logprobs) p.logprobs = static_cast<int>(top.value_or(0));
  if (const json* rf = f.find("response_format")) {
    if (!rf->is_object()) bad("response_format", "must be an object, got " + Fields::type_of(*rf));
    if (rf->value("type", "text") != "text") bad("response_format", "only type 'text' is supported");
  }
  if (const json* tools = f.find("tools"); tools && !(tools->is_array() && tools->empty()))
    bad("tools", "are not supported");
  return p;
}

}  // namespace longctx::serve
