// Test-only: run the longctx binary (LONGCTX_BINARY, defined for test targets) as a user
// would, capturing stdout and stderr together.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace longctx::cli::test {

struct RunResult {
  int status = -1;     // exit status, -1 when killed by a signal
  std::string output;  // stdout and stderr
};

// Any shell command line; its stderr joins stdout.
inline RunResult run_shell(const std::string& command) {
  RunResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// `longctx --threads T <args>`.
inline RunResult run_longctx(const std::string& args, int threads = 2) {
  return run_shell(std::string(LONGCTX_BINARY) + " --threads " + std::to_string(threads) + " " + args);
}

}  // namespace longctx::cli::test
