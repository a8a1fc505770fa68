// Retrieval probes that generate: first-sentence retrieval (fsr, the paper's
// FIRST-SENTENCE-RETRIEVAL), passkey, and the needle-in-a-haystack grid (niah). Prompts come
// from data/tasks.h's generators, built and measured with the evaluated model's own
// tokenizer: each prompt, encoded with BOS, is exactly the requested length, else Error (a
// prompt is never cut to fit). Answers are generated greedily through model/decode.h's
// loop from a KV cache sized for the prompt plus the generation limit.
//
// Scores (0..100 per trial, averaged):
//   fsr:     100 x ROUGE-L F (eval/rouge.h) between data::first_sentence(generated text) and
//            the document's true first sentence; generation stops at the end of a sentence
//            (". ", "! ", "? ", newline) or the token limit.
//   passkey, niah: 100 when the first number in the generated text equals the answer (for
//            a non-numeric custom answer: the answer occurs in the text, case-insensitive);
//            generation stops at a newline, "." or the token limit.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/sources.h"
#include "eval/stats.h"

namespace longctx::eval {

enum class ProbeTask { kFsr, kPasskey, kNiah };
const char* probe_task_name(ProbeTask task);  // "fsr", "passkey", "niah"

// The paper's FSR lengths: 256, 1k, 2k, 4k, 8k, 10k, 12k, 14k, 16k, 20k, 24k, 28k, 30k.
std::vector<int64_t> paper_fsr_lengths();

struct ProbeOptions {
  std::vector<int64_t> lengths;          // ascending prompt lengths in tokens (BOS included)
  std::vector<double> depths = {0, 0.25, 0.5, 0.75, 1};  // passkey / niah
  int64_t count = 4;                     // fsr: documents per length; else trials per cell
  int64_t max_new_tokens = 0;            // 0 = the task's default (fsr 64, else 16)
  uint64_t seed = 0;
  std::string needle, question, answer;  // niah: custom needle (all three or none)
  size_t memory_limit = 0;
  std::function<void(const std::string&)> log;
  int64_t resolved_max_new_tokens(ProbeTask task) const;
};

struct ProbeTrial {
  int64_t length = 0;
  double depth = -1;        // where the key/needle sits (measured), -1 for fsr
  double target_depth = -1; // the grid depth asked for
  int64_t index = 0;        // trial within its cell
  std::string source;       // fsr: the document
  std::string answer, output, prediction;
  double score = 0;         // 0..100
  std::string stop_reason;
  double prefill_seconds = 0, decode_seconds = 0;
};

struct ScoreCell {
  int64_t length = 0;
  double depth = -1;  // -1: all depths
  MeanCi score;       // over trials, 0..100
};

struct ProbeRow {
  EvalRow row;
  nlohmann::json json_base;
  int64_t trained_length = 0;
  std::vector<ProbeTrial> trials;
  std::vector<ScoreCell> by_length;        // averaged over depths / documents
  std::vector<ScoreCell> by_length_depth;  // passkey / niah
  int64_t effective_length = 0;            // stats.h, 85% of the shortest length's score
};

struct ProbeResult {
  ProbeTask task = ProbeTask::kFsr;
  ProbeOptions options;
  std::vector<ProbeRow> rows;
};

// documents: fsr's documents (longest first are tried per length), or niah's haystack text;
// unused by passkey.
ProbeResult run_probe(ProbeTask task, std::vector<EvalModel>& models,
                      const std::vector<EvalRow>& rows, const std::vector<TextDocument>& documents,
                      const ProbeOptions& options);

// The scoring rules of the header, exposed for tests.
double fsr_score(const std::string& generated, const std::string& answer);
bool answer_matches(const std::string& generated, const std::string& answer);

nlohmann::json to_json(const ProbeResult& result);
// <task>.json, <task>.csv (one line per trial), <task>_cells.csv, <task>.svg (score against
// length), and for passkey / niah <task>_depth.svg plus one heatmap per row
// (<task>_heatmap_<n>.svg: length x depth).
void write_probe_outputs(const ProbeResult& result, const std::string& dir);
std::string probe_summary(const ProbeResult& result);

}  // namespace longctx::eval
