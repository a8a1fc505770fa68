// The server's engine thread: concurrent requests batched together give what each would
// give alone; prefix reuse across requests; the bounded queue; cancellation; logprobs of
// generated and prompt tokens against a direct forward.
#include "serve/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing.h"
#include "serve/serve_test_util.h"

namespace longctx::serve {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Fixture {
  explicit Fixture(int64_t parallel, int64_t queue, int64_t context = 0) {
    path = (test::temp_dir("scheduler") / "m.gguf").string();
    test::save_random_gguf(path, 81);
    model = open_serving_model({path, "", "", ""});
    EngineOptions eo;
    eo.sequences = parallel;
    eo.chunk = 16;
    eo.prefix_cache_bytes = 1 << 22;
    eo.context = context;
    eo.logits_rows = 16;
    engine = std::make_unique<Engine>(*model, eo);
    SchedulerOptions so;
    so.queue_limit = queue;
    so.min_store_tokens = 8;
    scheduler = std::make_unique<Scheduler>(*engine, so);
  }
  GenerationRequest request(std::vector<int32_t> prompt, int64_t n) const {
    GenerationRequest r;
    r.prompt = std::move(prompt);
    r.decode.sampling.temperature = 0;
    r.decode.max_new_tokens = n;
    return r;
  }
  static GenerationOutcome wait(RequestHandle& h) {
    GenerationEvent e;
    while (!(h.next(e, 10s) && e.kind == GenerationEvent::Kind::kDone)) {
    }
    return h.outcome();
  }
  // What one sequence alone gives (the decoding loop without the scheduler).
  std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int64_t n) const {
    Engine e(*model, {});
    Session s(e);
    return s.generate(prompt, request(prompt, n).decode).decode.tokens;
  }
  std::string path;
  std::unique_ptr<ServingModel> model;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Scheduler> scheduler;
};

TEST(Scheduler, ConcurrentRequestsEqualEachAlone) {
  Fixture f(/*parallel=*/2, /*queue=*/8);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 5; ++i) prompts.push_back(testing::random_ints(10 + 13 * i, 82 + i, 3, 95));
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (const auto& p : prompts) handles.push_back(f.scheduler->submit(f.request(p, 12)));
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(handles[i]);
    const GenerationOutcome o = Fixture::wait(*handles[i]);
    EXPECT_TRUE(o.error.empty()) << o.error;
    EXPECT_EQ(o.prompt_tokens, static_cast<int64_t>(prompts[i].size()));
    EXPECT_EQ(o.tokens, f.alone(prompts[i], 12)) << "request " << i;
  }
  const SchedulerStats s = f.scheduler->stats();
  EXPECT_EQ(s.completed, 5);
  EXPECT_EQ(s.generated_tokens, 60);
}

TEST(Scheduler, LaterRequestsReuseACachedPrefix) {
  Fixture f(/*parallel=*/2, /*queue=*/4);
  const auto doc = testing::random_ints(50, 90, 3, 95);
  std::vector<int32_t> a = doc, b = doc;
  a.push_back(7);
  b.push_back(8);
  const GenerationOutcome first = Fixture::wait(*f.scheduler->submit(f.request(a, 4)));
  EXPECT_EQ(first.cached_tokens, 0);
  const GenerationOutcome second = Fixture::wait(*f.scheduler->submit(f.request(b, 4)));
  EXPECT_EQ(second.cached_tokens, 50);
  EXPECT_EQ(second.tokens, f.alone(b, 4));
  EXPECT_EQ(f.scheduler->stats().cached_tokens, 50);
}

TEST(Scheduler, FullQueueRefusesAndCancelStops) {
  Fixture f(/*parallel=*/1, /*queue=*/1, /*context=*/1 << 16);
  const auto p = testing::random_ints(8, 91, 3, 95);
  auto running = f.scheduler->submit(f.request(p, 60000));  // seconds of work: still running below
  ASSERT_TRUE(running);
  GenerationEvent e;
  ASSERT_TRUE(running->next(e, 10s));  // it started
  auto waiting = f.scheduler->submit(f.request(p, 1));
  ASSERT_TRUE(waiting);
  EXPECT_EQ(f.scheduler->submit(f.request(p, 1)), nullptr) << "slot busy and queue full";
  EXPECT_EQ(f.scheduler->stats().rejected, 1);
  running->cancel();
  const GenerationOutcome o = Fixture::wait(*running);
  EXPECT_EQ(o.reason, model::StopReason::kCancelled);
  EXPECT_TRUE(Fixture::wait(*waiting).error.empty());
  EXPECT_EQ(f.scheduler->stats().cancelled, 1);
}

TEST(Scheduler, LogprobsOfPromptAndGeneratedTokensMatchAForward) {
  Fixture f(/*parallel=*/1, /*queue=*/2);
  const auto p = testing::random_ints(37, 92, 3, 95);  // 3 chunks of 16
  GenerationRequest r = f.request(p, 3);
  r.top_logprobs = 2;
  r.prompt_logprobs = true;
  const GenerationOutcome o = Fixture::wait(*f.scheduler->submit(std::move(r)));
  ASSERT_EQ(o.prompt_logprobs.size(), p.size() - 1);
  ASSERT_EQ(o.token_logprobs.size(), 3u);
  // Reference: all logits of prompt + generated tokens in one forward, log-softmax in double.
  std::vector<int32_t> all = p;
  all.insert(all.end(), o.tokens.begin(), o.tokens.end());
  const int64_t V = 96, T = static_cast<int64_t>(all.size());
  model::KVCache cache(f.model->config(), T);
  model::InferenceWorkspace ws(f.model->config(), 64);
  std::vector<float> logits(static_cast<size_t>(T * V));
  model::SequenceStep s;
  s.cache = &cache;
  s.tokens = all;
  s.logits = logits.data();
  s.all_logits = true;
  model::forward_batch(f.model->weights, std::span<model::SequenceStep>(&s, 1), ws);
  auto ref = [&](int64_t row, int32_t token) {
    const float* l = logits.data() + row * V;
    double m = l[0], sum = 0;
    for (int64_t i = 1; i < V; ++i) m = std::max(m, double(l[i]));
    for (int64_t i = 0; i < V; ++i) sum += std::exp(double(l[i]) - m);
    return double(l[token]) - m - std::log(sum);
  };
  for (size_t i = 0; i + 1 < p.size(); ++i)
    EXPECT_NEAR(o.prompt_logprobs[i].logprob, ref(static_cast<int64_t>(i), p[i + 1]), 1e-4) << i;
  for (size_t k = 0; k < 3; ++k) {
    const int64_t row = static_cast<int64_t>(p.size() + k) - 1;
    EXPECT_NEAR(o.token_logprobs[k].logprob, ref(row, o.tokens[k]), 1e-4);
    ASSERT_EQ(o.token_logprobs[k].top.size(), 2u);
    EXPECT_EQ(o.token_logprobs[k].top[0].first, o.tokens[k]) << "greedy picks the top token";
    EXPECT_GE(o.token_logprobs[k].top[0].second, o.token_logprobs[k].top[1].second);
  }
}

TEST(Scheduler, TokenLogprobIsALogSoftmax) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  const TokenLogprob lp = token_logprob(logits.data(), 4, 2, 3);
  const double lse = std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0));
  EXPECT_NEAR(lp.logprob, 2.0 - lse, 1e-6);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 1);  // ties: lowest id first
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 2);
}

}  // namespace
}  // namespace longctx::serve
