#include "serve/chat_template.h"

#include "core/error.h"

namespace longctx::serve {

ChatTemplate parse_chat_template(const std::string& text, const std::string& what) {
  if (text == "llama2") return ChatTemplate::kLlama2;
  if (text == "plain") return ChatTemplate::kPlain;
  throw_error("%s: unknown chat template '%s' (known: llama2, plain)", what.c_str(), text.c_str());
}

const char* chat_template_name(ChatTemplate t) { return t == ChatTemplate::kLlama2 ? "llama2" : "plain"; }

namespace {

std::string strip(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\n\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\n\r");
  return s.substr(a, b - a + 1);
}

void append(std::vector<int32_t>& out, const std::vector<int32_t>& ids) {
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace

void check_conversation(const std::vector<ChatMessage>& m, ChatTemplate t) {
  LONGCTX_CHECK(!m.empty(), "messages: the conversation is empty");
  for (size_t i = 0; i < m.size(); ++i)
    LONGCTX_CHECK(m[i].role == "system" || m[i].role == "user" || m[i].role == "assistant",
                  "messages[%zu].role: '%s' is not system, user or assistant", i, m[i].role.c_str());
  if (t == ChatTemplate::kPlain) return;
  const size_t first = m[0].role == "system" ? 1 : 0;
  for (size_t i = first; i < m.size(); ++i) {
    const char* want = (i - first) % 2 == 0 ? "user" : "assistant";
    LONGCTX_CHECK(m[i].role == want,
                  "messages[%zu].role: '%s' where the llama2 template needs '%s' (an optional system "
                  "message first, then user and assistant alternating)",
                  i, m[i].role.c_str(), want);
  }
  LONGCTX_CHECK(m.back().role == "user", "messages[%zu]: the last message must be from the user",
                m.size() - 1);
}

std::vector<int32_t> render_chat(const io::Tokenizer& tok, const std::vector<ChatMessage>& m,
                                 ChatTemplate t) {
  check_conversation(m, t);
  std::vector<int32_t> out;
  if (t == ChatTemplate::kPlain) {
    std::string text;
    for (const ChatMessage& msg : m) text += msg.role == "user" ? msg.content + "\n" : msg.content;
    return tok.encode(text, /*add_bos=*/true);
  }
  size_t i = 0;
  std::string system;
  if (m[0].role == "system") {
    system = "<<SYS>>\n" + strip(m[0].content) + "\n<</SYS>>\n\n";
    i = 1;
  }
  for (; i < m.size(); i += 2) {
    const std::string user = "[INST] " + system + strip(m[i].content) + " [/INST]";
    system.clear();
    if (i + 1 < m.size()) {
      append(out, tok.encode(user + " " + strip(m[i + 1].content) + " ", /*add_bos=*/true, /*add_eos=*/true));
    } else {
      append(out, tok.encode(user, /*add_bos=*/true));
    }
  }
  return out;
}

std::vector<int32_t> render_user_turn(const io::Tokenizer& tok, const std::string& user, ChatTemplate t) {
  if (t == ChatTemplate::kPlain) return tok.encode(user + "\n");
  return tok.encode("[INST] " + strip(user) + " [/INST]", /*add_bos=*/true);
}

int64_t fit_history(const io::Tokenizer& tok, std::vector<ChatMessage>& m, ChatTemplate t,
                    int64_t max_tokens) {
  const size_t first = !m.empty() && m[0].role == "system" ? 1 : 0;
  int64_t dropped = 0;
  for (;;) {
    const int64_t n = static_cast<int64_t>(render_chat(tok, m, t).size());
    if (n <= max_tokens) return dropped;
    // Oldest exchange: a user message and the assistant reply after it (plain: one message).
    const size_t drop = t == ChatTemplate::kLlama2 ? 2 : 1;
    LONGCTX_CHECK(m.size() >= first + drop + 1,
                  "the message alone is %lld tokens, more than the %lld the context leaves for it",
                  static_cast<long long>(n), static_cast<long long>(max_tokens));
    m.erase(m.begin() + static_cast<std::ptrdiff_t>(first), m.begin() + static_cast<std::ptrdiff_t>(first + drop));
    dropped += static_cast<int64_t>(drop);
  }
}

}  // namespace longctx::serve
