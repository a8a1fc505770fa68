// Conversations to prompt tokens. Two templates:
//
// - llama2: Meta's Llama 2 chat format (the reference `chat_completion`): every
//   (user, assistant) exchange is BOS "[INST] {user} [/INST] {assistant} " EOS, the open
//   user turn BOS "[INST] {user} [/INST]"; a system message is wrapped in
//   "<<SYS>>\n ... \n<</SYS>>\n\n" at the start of the first user turn. BOS/EOS are token
//   ids, never text, so a user typing "</s>" cannot end a turn.
// - plain: no template, a completion of the running text: BOS, then every message's text
//   in order (user messages followed by a newline).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/tokenizer.h"

namespace longctx::serve {

enum class ChatTemplate { kLlama2, kPlain };
// "llama2" | "plain"; Error naming `what` otherwise.
ChatTemplate parse_chat_template(const std::string& text, const std::string& what);
const char* chat_template_name(ChatTemplate t);

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Error (naming the message index) unless: roles are system/user/assistant, a system
// message comes only first, then user and assistant alternate starting with user, and the
// last message is a user message (llama2; plain accepts any order).
void check_conversation(const std::vector<ChatMessage>& messages, ChatTemplate t);

std::vector<int32_t> render_chat(const io::Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                 ChatTemplate t);

// Tokens that continue a conversation whose tokens so far (prompt and reply, as the model saw
// and generated them) are kept by the caller, for one new user message: llama2:
// BOS "[INST] {user} [/INST]"; plain: "{user}\n". Appending these to the kept tokens reuses
// the whole cached conversation, where re-rendering the text could tokenize the reply
// differently. After a llama2 reply the caller appends EOS (the template's end of turn).
std::vector<int32_t> render_user_turn(const io::Tokenizer& tok, const std::string& user, ChatTemplate t);

// Drops the oldest exchanges (keeping a system message and the last user message) until the
// rendered prompt has at most max_tokens tokens; returns how many messages were dropped.
// Error when even the last user message (with the system message) does not fit.
int64_t fit_history(const io::Tokenizer& tok, std::vector<ChatMessage>& messages, ChatTemplate t,
                    int64_t max_tokens);

}  // namespace longctx::serve
