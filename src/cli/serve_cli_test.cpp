// End-to-end checks of `longctx generate`, `longctx chat` (under tmux) and `longctx serve`
// (with curl and with OpenAI's Node.js client) through the binary, on stories260K.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/cli_test_util.h"
#include "io/stories_fixture.h"

extern char** environ;

namespace longctx::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using longctx::test_fixtures::kStories;
using longctx::test_fixtures::kStoriesText;
using test::run_longctx;
using test::run_shell;

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("longctx_serve_cli_" + std::to_string(::getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

bool have(const char* tool) { return run_shell(std::string("command -v ") + tool).status == 0; }

std::string stdout_of(const std::string& args) {  // stderr (plan, statistics) dropped
  // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on "(" + std::string(...).
  std::string cmd = std::string(LONGCTX_BINARY) + " --threads 2 " + args + " 2>/dev/null)";
  cmd.insert(0, 1, '(');
  return run_shell(cmd).output;
}

// ---- generate

TEST(GenerateCli, PromptFromArgumentFileAndStdinWithStatistics) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const fs::path dir = temp_dir("prompt");
  const std::string file = (dir / "p.txt").string();
  std::ofstream(file) << "Once upon a time";
  const std::string flags = " --greedy --max-tokens 20 --model " + kStories;
  const std::string from_arg = stdout_of("generate --prompt 'Once upon a time'" + flags);
  EXPECT_EQ(from_arg.rfind(", there was a little girl", 0), 0u) << from_arg;
  EXPECT_EQ(stdout_of("generate --prompt-file " + file + flags), from_arg);
  EXPECT_EQ(run_shell("(cat " + file + " | " + LONGCTX_BINARY + " generate" + flags + " 2>/dev/null)").output, from_arg);
  EXPECT_EQ(stdout_of("generate --prompt-file - < " + file + flags), from_arg);
  const auto r = run_longctx("generate --prompt 'Once upon a time'" + flags);
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* line : {"memory plan: weights", "prefill: 5 tokens in", "decode: 20 tokens in", "tokens/s (CPU",
                           "KV cache: 30.7 kB used of 655.4 kB reserved (24 of 512 tokens"})
    EXPECT_NE(r.output.find(line), std::string::npos) << line << " in\n" << r.output;
  const auto bad = run_longctx("generate --prompt x --prompt-file " + file + flags);
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("exclude each other"), std::string::npos) << bad.output;
}

// A 3,000-token prompt on a 512-token model: refused with the way out named; accepted with
// --ctx, with a one-line warning; token ids from a file (too many for a command line).
TEST(GenerateCli, LongPromptRunsPastTheTrainedContextWithCtx) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const fs::path dir = temp_dir("long");
  const std::string ids = (dir / "ids.txt").string();
  {
    std::ofstream out(ids);
    out << 1;
    for (int i = 1; i < 3000; ++i) out << (i % 20 == 0 ? '\n' : ' ') << 300 + i % 150;
  }
  const std::string base = "generate --model " + kStories + " --token-ids-file " + ids + " --greedy --max-tokens 8";
  auto r = run_longctx(base);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("the prompt has 3000 tokens but the context holds 512: raise --ctx"), std::string::npos) << r.output;
  r = run_longctx(base + " --ctx 4096");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("warning: --ctx 4096 exceeds the model's trained context of 512 tokens"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("prefill: 3000 tokens"), std::string::npos) << r.output;
  // A context that cannot fit in memory is refused before anything is allocated.
  r = run_longctx(base + " --ctx 2000000000");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("not enough memory for --ctx 2000000000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("KV cache 2560.00 GB"), std::string::npos) << r.output;
}

TEST(GenerateCli, SavedStateContinuesLikeOneRun) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const fs::path dir = temp_dir("state");
  const std::string state = (dir / "s.kv").string();
  const std::string m = " --model " + kStories + " --greedy";
  auto r = run_longctx("generate" + m + " --prompt 'Once upon a time' --max-tokens 0 --save-state " + state);
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string whole = stdout_of("generate" + m + " --prompt 'Once upon a time, there was' --max-tokens 12");
  r = run_longctx("generate" + m + " --prompt 'Once upon a time, there was' --max-tokens 12 --load-state " + state);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("5 prompt tokens reused"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(whole), std::string::npos) << r.output;
  r = run_longctx("generate" + m + " --prompt 'A dog' --load-state " + state);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("not a proper prefix"), std::string::npos) << r.output;
  r = run_longctx("generate" + m + " --prompt 'Once upon a time, there' --kv-type bf16 --load-state " + state);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("fingerprint field 'kv_types'"), std::string::npos) << r.output;
}

// ---- chat, driven through a terminal (tmux)

struct Tmux {
  std::string session = "longctx_chat_" + std::to_string(::getpid());
  ~Tmux() { run_shell("tmux kill-session -t " + session); }
  void keys(const std::string& k) { run_shell("tmux send-keys -t " + session + " " + k); }
  // -J joins wrapped lines (a "[stopped]" at the pane's edge would otherwise be split) and
  // keeps trailing spaces: an empty prompt line is "> ", not ">".
  std::string screen() { return run_shell("tmux capture-pane -p -J -S -200 -t " + session).output; }
  // Waits until the screen contains text `count` times.
  bool wait_for(const std::string& text, int count = 1, int seconds = 20) {
    for (int i = 0; i < seconds * 10; ++i) {
      const std::string s = screen();
      int n = 0;
      for (size_t at = s.find(text); at != std::string::npos; at = s.find(text, at + 1)) ++n;
      if (n >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
};

TEST(ChatCli, TurnsHistoryAndCtrlCUnderTmux) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  if (!have("tmux")) GTEST_SKIP() << "tmux is not installed";
  Tmux t;
  // A huge --max-tokens and context so that a reply runs until Ctrl-C stops it.
  const std::string cmd = std::string(LONGCTX_BINARY) + " --threads 2 chat --model " + kStories +
                          " --template plain --greedy --ctx 65536 --max-tokens 60000";
  ASSERT_EQ(run_shell("tmux new-session -d -x 200 -y 50 -s " + t.session + " '" + cmd + "'").status, 0);
  ASSERT_TRUE(t.wait_for("Ctrl-C stops a reply")) << t.screen();
  t.keys("'Once upon a time' Enter");
  // Ctrl-C once the reply is under way (waiting on the text, not a fixed time: on a loaded
  // machine the first tokens can take seconds).
  ASSERT_TRUE(t.wait_for(", there was a little girl named Lily")) << t.screen();
  t.keys("C-c");
  ASSERT_TRUE(t.wait_for("[stopped]")) << t.screen();
  ASSERT_TRUE(t.wait_for("> ", 2)) << "the session goes on after Ctrl-C\n" << t.screen();
  t.keys("'The end.' Enter");
  ASSERT_TRUE(t.wait_for("The end.")) << t.screen();
  const std::string before_reply = t.screen();
  for (int i = 0; i < 200 && t.screen() == before_reply; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  t.keys("C-c");
  ASSERT_TRUE(t.wait_for("[stopped]", 2)) << t.screen();
  // The second turn continued the conversation held in the cache.
  EXPECT_NE(t.screen().find("reused"), std::string::npos) << t.screen();
  ASSERT_TRUE(t.wait_for("> ", 3)) << t.screen();
  t.keys("/exit Enter");
  for (int i = 0; i < 50 && run_shell("tmux has-session -t " + t.session).status == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(run_shell("tmux has-session -t " + t.session).status, 0) << "/exit ends the chat";
}

// ---- serve

// A `longctx serve` process on a free port, stopped (SIGTERM) at the end.
class Server {
 public:
  explicit Server(const std::string& args) {
    dir_ = temp_dir("server_" + std::to_string(++count_));
    const std::string port_file = (dir_ / "port").string(), log = (dir_ / "log").string();
    const std::string cmd = "exec " + std::string(LONGCTX_BINARY) + " --threads 2 serve " + args +
                            " --port 0 --port-file " + port_file + " > " + log + " 2>&1";
    const char* argv[] = {"sh", "-c", cmd.c_str(), nullptr};
    if (posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) pid_ = -1;
    for (int i = 0; i < 300 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream in(port_file);
      in >> port_;
    }
  }
  ~Server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  bool up() const { return port_ > 0; }
  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::string log() const {
    std::ifstream in(dir_ / "log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // curl with the API key; returns status code and body.
  std::pair<int, std::string> post(const std::string& path, const std::string& body, const std::string& key = "secret",
                                   const std::string& extra = "") const {
    const std::string file = (dir_ / "body.json").string();
    std::ofstream(file) << body;
    return request(path, "-d @" + file + " " + extra, key);
  }
  std::pair<int, std::string> get(const std::string& path, const std::string& key = "secret") const {
    return request(path, "", key);
  }

 private:
  std::pair<int, std::string> request(const std::string& path, const std::string& args, const std::string& key) const {
    const std::string out = (dir_ / ("out" + std::to_string(++requests_))).string();
    const std::string auth = key.empty() ? "" : " -H 'Authorization: Bearer " + key + "'";
    const auto r = run_shell("curl -sN -o " + out + " -w '%{http_code}'" + auth + " " + args + " '" + url(path) + "'");
    std::ifstream in(out);
    return {std::atoi(r.output.c_str()), std::string(std::istreambuf_iterator<char>(in), {})};
  }
  static inline int count_ = 0;
  mutable int requests_ = 0;
  fs::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

class ServeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kStories) || !have("curl")) return;
    server_ = new Server("--model " + kStories +
                         " --api-key secret --parallel 2 --max-tokens-limit 300 --max-body-mb 0.05 --heartbeat-ms 200");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
    if (!have("curl")) GTEST_SKIP() << "curl is not installed";
    ASSERT_TRUE(server_ && server_->up()) << (server_ ? server_->log() : "");
  }
  static Server* server_;
};
Server* ServeCli::server_ = nullptr;

TEST_F(ServeCli, HealthModelsAndMetrics) {
  const Server& s = *server_;
  EXPECT_EQ(s.get("/health", "").first, 200);
  auto [code, body] = s.get("/v1/models", "");
  EXPECT_EQ(code, 401) << body;
  EXPECT_EQ(json::parse(body)["error"]["type"], "authentication_error");
  EXPECT_EQ(s.get("/v1/models", "wrong").first, 401);
  std::tie(code, body) = s.get("/v1/models");
  ASSERT_EQ(code, 200) << body;
  const json m = json::parse(body)["data"][0];
  EXPECT_EQ(m["id"], "stories260K-f32");
  EXPECT_EQ(m["context_length"], 512);
  std::tie(code, body) = s.get("/metrics");
  ASSERT_EQ(code, 200);
  for (const char* metric : {"longctx_http_responses_total{code=\"401\"}", "longctx_queue_length 0",
                             "longctx_decode_tokens_per_second", "longctx_prefill_tokens_per_second", "longctx_slots 2"})
    EXPECT_NE(body.find(metric), std::string::npos) << metric << "\n" << body;
}

TEST_F(ServeCli, CompletionsWholeStreamedAndReused) {
  const Server& s = *server_;
  const std::string req = R"({"prompt":"","max_tokens":40,"temperature":0)";
  auto [code, body] = s.post("/v1/completions", req + "}");
  ASSERT_EQ(code, 200) << body;
  const json r = json::parse(body);
  const std::string text = r["choices"][0]["text"];
  EXPECT_EQ(text.substr(0, kStoriesText.size()), kStoriesText);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["completion_tokens"], 40);
  // Streamed: "data: {...}" events that add up to the same text, then the usage chunk and [DONE].
  std::tie(code, body) = s.post("/v1/completions", req + R"(,"stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(code, 200) << body;
  std::istringstream lines(body);
  std::string line, streamed;
  json usage;
  while (std::getline(lines, line)) {
    if (line.rfind("data: ", 0) != 0 || line == "data: [DONE]") continue;
    const json c = json::parse(line.substr(6));
    if (!c["choices"].empty()) streamed += c["choices"][0]["text"].get<std::string>();
    if (c.contains("usage")) usage = c["usage"];
  }
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(usage["completion_tokens"], 40);
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos);
  // The same long prompt twice: the second reuses the first's KV cache.
  const std::string doc = R"({"prompt":"Once upon a time, there was a little girl named Lily. She loved to play outside.","max_tokens":4,"temperature":0})";
  s.post("/v1/completions", doc);
  std::tie(code, body) = s.post("/v1/completions", doc);
  ASSERT_EQ(code, 200) << body;
  const json again = json::parse(body);
  EXPECT_EQ(again["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), again["usage"]["prompt_tokens"].get<int>() - 1)
      << body;
}

TEST_F(ServeCli, EchoLogprobsAndChat) {
  const Server& s = *server_;
  auto [code, body] = s.post("/v1/completions", R"({"prompt":"Once upon a time","max_tokens":2,"temperature":0,"echo":true,"logprobs":2})");
  ASSERT_EQ(code, 200) << body;
  const json c = json::parse(body)["choices"][0];
  EXPECT_EQ(c["text"].get<std::string>().rfind("Once upon a time,", 0), 0u) << body;
  const json& lp = c["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 7u) << body;  // BOS + 4 prompt tokens + 2 generated
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  for (size_t i = 1; i < 7; ++i) EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
  EXPECT_EQ(lp["top_logprobs"][6].size(), 2u);
  std::tie(code, body) = s.post("/v1/chat/completions",
                                R"({"messages":[{"role":"system","content":"Be kind."},{"role":"user","content":"Hi"}],"max_tokens":6,"temperature":0})");
  ASSERT_EQ(code, 200) << body;
  const json chat = json::parse(body);
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["role"], "assistant");
  EXPECT_GT(chat["usage"]["prompt_tokens"].get<int>(), 10);
  std::tie(code, body) = s.post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"stream":true})");
  ASSERT_EQ(code, 200) << body;
  EXPECT_NE(body.find(R"("delta":{"content":"","role":"assistant"})"), std::string::npos) << body;
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos) << body;
}

TEST_F(ServeCli, ErrorsNameTheFieldAndTheNumbers) {
  const Server& s = *server_;
  auto expect = [&](const std::string& path, const std::string& body, int status, const std::string& param,
                    const std::string& text) {
    SCOPED_TRACE(body.substr(0, 80));
    const auto [code, out] = s.post(path, body);
    EXPECT_EQ(code, status) << out;
    if (status == 200) return;
    const json e = json::parse(out)["error"];
    if (!param.empty()) {
      EXPECT_EQ(e["param"], param) << out;
    }
    EXPECT_NE(e["message"].get<std::string>().find(text), std::string::npos) << out;
  };
  expect("/v1/completions", "{\"prompt\": \"x\",", 400, "", "not valid JSON");
  expect("/v1/completions", R"({"prompt":"x","max_tokens":"ten"})", 400, "max_tokens", "must be an integer");
  expect("/v1/completions", R"({"prompt":"x","temperature":[1]})", 400, "temperature", "must be a number");
  expect("/v1/chat/completions", R"({"messages":[{"role":"user","content":5}]})", 400, "messages[0].content", "must be");
  expect("/v1/chat/completions", R"({"messages":[{"role":"assistant","content":"x"}]})", 400, "messages", "messages[0].role");
  std::string ids = "1";
  for (int i = 0; i < 599; ++i) ids += ",300";
  expect("/v1/completions", R"({"prompt":[)" + ids + "]}", 400, "prompt", "the prompt has 600 tokens but the context holds 512");
  expect("/v1/completions", R"({"prompt":"Once upon a time","max_tokens":300,"temperature":0})", 200, "", "");
  expect("/v1/completions", R"({"prompt":[)" + ids.substr(0, 4 * 300 - 3) + R"(],"max_tokens":250})", 400, "max_tokens",
         "the prompt's 300 tokens + max_tokens 250 = 550 exceed the context of 512 tokens");
  expect("/v1/completions", R"({"prompt":"x","max_tokens":301})", 400, "max_tokens", "limit of 300");
  expect("/v1/completions", R"({"prompt":[1,512]})", 400, "prompt", "outside the vocabulary");
  expect("/v1/completions", R"({"prompt":")" + std::string(60000, 'a') + "\"}", 413, "", "exceeds 50000 bytes");
  // curl -d without a Content-Type says application/x-www-form-urlencoded; bodies past 8 kB
  // are still read as JSON (up to --max-body-mb).
  expect("/v1/completions", R"({"prompt":"x","max_tokens":1})" + std::string(20000, ' '), 200, "", "");
  const auto [code, out] = s.get("/v1/nothing");
  EXPECT_EQ(code, 404) << out;
}

// A server with one slot and no queue: a second request while the first runs gets 503; a
// client that disconnects cancels its generation (counted in /metrics).
TEST_F(ServeCli, FullQueueIs503AndDisconnectCancels) {
  Server busy("--model " + kStories + " --parallel 1 --queue 0 --ctx 60000 --heartbeat-ms 100");
  ASSERT_TRUE(busy.up()) << busy.log();
  const std::string long_gen = R"({"prompt":"","max_tokens":59000,"temperature":0)";
  // Polls /metrics until it shows `line` (the cancellation lands within a heartbeat or two
  // after the client hangs up, not at once).
  auto metrics_show = [&](const std::string& line) {
    std::string metrics;
    for (int i = 0; i < 50; ++i) {
      metrics = busy.get("/metrics", "").second;
      if (metrics.find(line) != std::string::npos) return metrics;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "no '" << line << "' in\n" << metrics;
    return metrics;
  };
  int round = 0;
  for (const std::string stream : {"", R"(,"stream":true)"}) {
    SCOPED_TRACE(stream.empty() ? "whole" : "stream");
    ++round;
    // The client gives up after 2 s, long before 59,000 tokens.
    std::thread client([&] { busy.post("/v1/completions", long_gen + stream + "}", "", "--max-time 2"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    const auto [code, body] = busy.post("/v1/completions", R"({"prompt":"x","max_tokens":1})", "");
    EXPECT_EQ(code, 503) << body;
    EXPECT_NE(body.find("queue is full"), std::string::npos) << body;
    client.join();
    // The slot is free again only once the server has noticed the hang-up.
    metrics_show("longctx_requests_cancelled_total " + std::to_string(round));
  }
  const std::string metrics = metrics_show("longctx_requests_cancelled_total 2");
  EXPECT_NE(metrics.find("longctx_requests_rejected_total 2"), std::string::npos) << metrics;
  EXPECT_EQ(busy.post("/v1/completions", R"({"prompt":"","max_tokens":3})", "").first, 200) << "free again";
}

// OpenAI's own Node.js client against the server (scripts/install-deps.sh --openai-client).
TEST_F(ServeCli, OpenAiNodeClient) {
  if (!have("node")) GTEST_SKIP() << "Node.js is not installed (scripts/install-deps.sh --openai-client)";
  const char* env = std::getenv("LONGCTX_OPENAI_CLIENT_DIR");
  const std::string dir = env ? env : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache/longctx/openai-client";
  if (!fs::exists(dir + "/node_modules/openai/package.json"))
    GTEST_SKIP() << "the openai npm package is not in " << dir << " (scripts/install-deps.sh --openai-client)";
  const auto r = run_shell("node " + std::string(LONGCTX_SOURCE_DIR) + "/src/serve/openai_client_check.mjs " +
                           server_->url() + " secret '" + kStoriesText + "' " + dir);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("FAIL"), std::string::npos) << r.output;
  std::printf("%s", r.output.c_str());
}

}  // namespace
}  // namespace longctx::cli
