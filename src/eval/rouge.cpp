#include "eval/rouge.h"

#include <algorithm>

namespace longctx::eval {

std::vector<std::string> rouge_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (const char raw : text) {
    const char c = (raw >= 'A' && raw <= 'Z') ? static_cast<char>(raw - 'A' + 'a') : raw;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      cur += c;
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

int64_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<int64_t> row(b.size() + 1, 0);  // row[j] = LCS(a[0..i), b[0..j))
  for (const std::string& x : a) {
    int64_t diag = 0;  // LCS(a[0..i-1), b[0..j-1))
    for (size_t j = 1; j <= b.size(); ++j) {
      const int64_t up = row[j];
      row[j] = x == b[j - 1] ? diag + 1 : std::max(row[j], row[j - 1]);
      diag = up;
    }
  }
  return row.back();
}

RougeScore rouge_l(std::string_view prediction, std::string_view reference) {
  const auto p = rouge_tokens(prediction), r = rouge_tokens(reference);
  RougeScore s;
  s.prediction_tokens = static_cast<int64_t>(p.size());
  s.reference_tokens = static_cast<int64_t>(r.size());
  s.lcs = lcs_length(p, r);
  if (s.lcs == 0) return s;
  s.precision = static_cast<double>(s.lcs) / static_cast<double>(p.size());
  s.recall = static_cast<double>(s.lcs) / static_cast<double>(r.size());
  s.f = 2 * s.precision * s.recall / (s.precision + s.recall);
  return s;
}

}  // namespace longctx::eval
