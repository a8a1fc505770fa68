// One error type for the whole project: what failed, and with which input.
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

namespace longctx {

// Error carries a message that names the operation and the offending input
// (file, offset, tensor, flag, field). Contexts can be prepended as the error
// travels outwards: "loading model 'x.gguf': tensor 'blk.0.attn_q.weight': shape ...".
class Error : public std::runtime_error {
 public:
  explicit Error(std::string message) : std::runtime_error(std::move(message)) {}
  // Returns a new error whose message is "context: <this message>".
  Error with_context(const std::string& context) const { return Error(context + ": " + what()); }
};

// printf-style formatting into a std::string.
std::string strformat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void throw_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace longctx

// Checks a condition on input or state; throws longctx::Error with a formatted message.
#define LONGCTX_CHECK(cond, ...)            \
  do {                                      \
    if (!(cond)) ::longctx::throw_error(__VA_ARGS__); \
  } while (0)
