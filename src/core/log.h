// Minimal leveled logging to stderr. Level from LONGCTX_LOG (debug|info|warn|error).
#pragma once

namespace longctx {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace longctx

#define LONGCTX_LOG_DEBUG(...) ::longctx::log_message(::longctx::LogLevel::kDebug, __VA_ARGS__)
#define LONGCTX_LOG_INFO(...) ::longctx::log_message(::longctx::LogLevel::kInfo, __VA_ARGS__)
#define LONGCTX_LOG_WARN(...) ::longctx::log_message(::longctx::LogLevel::kWarn, __VA_ARGS__)
#define LONGCTX_LOG_ERROR(...) ::longctx::log_message(::longctx::LogLevel::kError, __VA_ARGS__)
