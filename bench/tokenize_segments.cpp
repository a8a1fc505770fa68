// Tokenisation of one long text three ways: whole (one SentencePiece call, as data prepare did
// before issue 13), in segments on 1 thread, and in segments on N threads (OpenMP over the
// segments, as data prepare does now). Checks that all three give identical tokens and
// reports wall time, CPU time, and per thread the CPU time spent encoding, so the parallel
// balance is measured even when other work shares the machine (figures: docs/data.md).
//
// Usage: tokenize_segments <tokenizer.model> <text file> [threads=2] [segment_kb=64] [repeats=3]
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/timer.h"
#include "data/text_input.h"
#include "io/segmented_encoder.h"

namespace {

using longctx::io::SegmentedEncoder;
using longctx::io::SegmentOptions;
using longctx::io::TextSegment;

double cpu_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Run {
  double wall = 0, cpu = 0;        // seconds: elapsed, and CPU of the whole process
  std::vector<double> thread_cpu;  // seconds of CPU each thread spent encoding segments
  std::vector<int32_t> tokens;
};

Run encode_whole(const longctx::io::Tokenizer& tok, const std::string& text) {
  Run r;
  const double c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  longctx::Timer timer;
  r.tokens = tok.encode(text);
  r.wall = timer.seconds();
  r.cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
  r.thread_cpu = {r.cpu};
  return r;
}

Run encode_segments(const SegmentedEncoder& enc, const std::string& text,
                    const SegmentOptions& options, int threads) {
  Run r;
  const double c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  longctx::Timer timer;
  const std::vector<TextSegment> plan = enc.plan(text, options);
  std::vector<std::vector<int32_t>> parts(plan.size());
  r.thread_cpu.assign(static_cast<size_t>(threads), 0.0);
  const int64_t n = static_cast<int64_t>(plan.size());
#pragma omp parallel num_threads(threads)
  {
    const double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) parts[i] = enc.encode_segment(text, plan[i]);
    r.thread_cpu[static_cast<size_t>(omp_get_thread_num())] =
        cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
  }
  for (const auto& p : parts) enc.append(r.tokens, p);
  r.wall = timer.seconds();
  r.cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
  return r;
}

void report(const char* name, const std::vector<Run>& runs, size_t bytes) {
  // The fastest repeat: the one least disturbed by other work on the machine.
  const Run& best = *std::min_element(runs.begin(), runs.end(),
                                      [](const Run& a, const Run& b) { return a.wall < b.wall; });
  double busiest = 0;
  std::string per_thread;
  for (double t : best.thread_cpu) {
    busiest = std::max(busiest, t);
    per_thread += (per_thread.empty() ? "" : " / ") + longctx::strformat("%.2f", t);
  }
  std::printf(
      "%-22s wall %6.2f s  %5.2f MB/s  %8.0f tokens/s  cpu %6.2f s  busiest thread %6.2f s"
      "  (per thread %s)\n",
      name, best.wall, static_cast<double>(bytes) / 1e6 / best.wall,
      static_cast<double>(best.tokens.size()) / best.wall, best.cpu, busiest, per_thread.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s <tokenizer.model> <text file> [threads=2] [segment_kb=64] "
                 "[repeats=3]\n",
                 argv[0]);
    return 2;
  }
  try {
    const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
    const double segment_kb = argc > 4 ? std::atof(argv[4]) : 64;
    const int repeats = argc > 5 ? std::atoi(argv[5]) : 3;
    LONGCTX_CHECK(threads >= 1 && segment_kb > 0 && repeats >= 1, "bad arguments");
    const auto tok = longctx::io::Tokenizer::from_file(argv[1]);
    std::string text = longctx::data::read_maybe_gzip(argv[2]);
    longctx::data::clean_text(text, 1 << 20);  // as data prepare reads it
    const SegmentedEncoder enc(tok);
    SegmentOptions options;
    options.target_bytes = static_cast<size_t>(segment_kb * 1024);
    options.max_bytes = std::max(options.max_bytes, 4 * options.target_bytes);
    std::printf("%s: %zu bytes, %zu segments, tokenizer %s (cuts %s)\n", argv[2], text.size(),
                enc.plan(text, options).size(), argv[1],
                enc.can_prove_cuts() ? "provable" : enc.unprovable_reason().c_str());
    std::vector<Run> whole, one, many;
    for (int r = 0; r < repeats; ++r) {
      whole.push_back(encode_whole(tok, text));
      one.push_back(encode_segments(enc, text, options, 1));
      many.push_back(encode_segments(enc, text, options, threads));
    }
    for (const auto* runs : {&one, &many})
      for (const Run& r : *runs)
        LONGCTX_CHECK(r.tokens == whole[0].tokens,
                      "segmented tokens differ from whole-text tokens");
    report("whole, 1 call", whole, text.size());
    report("segments, 1 thread", one, text.size());
    report(longctx::strformat("segments, %d threads", threads).c_str(), many, text.size());
    std::printf("tokens: %zu, identical in all %d runs\n", whole[0].tokens.size(), 3 * repeats);
    return 0;
  } catch (const longctx::Error& e) {
    std::fprintf(stderr, "tokenize_segments: %s\n", e.what());
    return 1;
  }
}
