// ROUGE-L between a generated text and a reference, as the `rouge-score` package computes it
// with its default tokenizer (no stemming): both texts are lower-cased, every run of
// characters outside [a-z0-9] separates tokens; LCS = longest common subsequence of the two
// token lists; precision = LCS / prediction tokens, recall = LCS / reference tokens,
// F = 2PR / (P + R) (0 when LCS = 0). Scores are fractions in [0, 1].
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace longctx::eval {

std::vector<std::string> rouge_tokens(std::string_view text);

// Length of the longest common subsequence (O(|a| |b|) time, O(|b|) memory).
int64_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b);

struct RougeScore {
  double precision = 0, recall = 0, f = 0;
  int64_t lcs = 0, prediction_tokens = 0, reference_tokens = 0;
};
RougeScore rouge_l(std::string_view prediction, std::string_view reference);

}  // namespace longctx::eval
