#include "data/tasks.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include "core/error.h"
#include "core/hash.h"
#include "io/tokenizer.h"

namespace longctx::data {
namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(mix64(seed)) {}
  uint64_t next() { return mix64(state_++); }
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

constexpr char kPasskeyIntro[] =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize "
    "it. I will quiz you about the important information there.\n";
constexpr char kFirstSentenceQuestion[] =
    "\n\nQuestion: What is the first sentence of the text above?\nAnswer: The first sentence is:";
constexpr const char* kCities[] = {
    "Lisbon", "Nairobi", "Osaka",   "Quito",    "Reykjavik", "Hanoi",  "Tbilisi", "Lima",
    "Oslo",   "Dakar",   "Havana",  "Krakow",   "Montreal",  "Perth",  "Seville", "Tunis",
    "Vienna", "Yerevan", "Zagreb",  "Auckland", "Bergen",    "Cusco",  "Dublin",  "Kyoto"};

int64_t count_tokens(const io::Tokenizer& tok, const std::string& text) {
  return static_cast<int64_t>(tok.encode(text, /*add_bos=*/true).size());
}

// Chooses k in [0, max_k] (characters of haystack used) so that build(k) is exactly `target`
// tokens. The count grows roughly monotonically with k, so a binary search finds the largest k
// with count <= target; the neighbourhood is then scanned, cuts at word boundaries first.
int64_t fit_to_tokens(const io::Tokenizer& tok, int64_t target, int64_t max_k,
                      const std::function<std::string(int64_t)>& build,
                      const std::function<bool(int64_t)>& word_cut, const char* task) {
  auto count = [&](int64_t k) { return count_tokens(tok, build(k)); };
  const int64_t base = count(0);
  LONGCTX_CHECK(base <= target, "%s: the template alone is %lld tokens, over the target %lld",
                task, static_cast<long long>(base), static_cast<long long>(target));
  LONGCTX_CHECK(count(max_k) >= target,
                "%s: the text is too short for %lld tokens (%lld characters give %lld)", task,
                static_cast<long long>(target), static_cast<long long>(max_k),
                static_cast<long long>(count(max_k)));
  int64_t lo = 0, hi = max_k;  // count(lo) <= target <= count(hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (count(mid) <= target ? lo : hi) = mid;
  }
  // Prefer a nearby cut between words; else any exact cut close to lo.
  int64_t exact_any = count(lo) == target ? lo : -1;
  if (exact_any >= 0 && word_cut(lo)) return lo;
  int word_cuts_tried = 0;
  for (int64_t d = 1; d <= 256 && word_cuts_tried < 12; ++d)
    for (const int64_t k : {lo - d, lo + d}) {
      if (k < 0 || k > max_k || !word_cut(k)) continue;
      ++word_cuts_tried;
      if (count(k) == target) return k;
    }
  if (exact_any >= 0) return exact_any;
  for (int64_t d = 1; d <= 64; ++d)
    for (const int64_t k : {lo - d, lo + d}) {
      if (k < 0 || k > max_k) continue;
      if (count(k) == target) return k;
    }
  throw_error("%s: no cut of the text gives exactly %lld tokens", task,
              static_cast<long long>(target));
}

// Index of a sentence start at or before pos (just after ". ", "! ", "? " or a newline).
size_t sentence_start_before(const std::string& text, size_t pos) {
  pos = std::min(pos, text.size());
  while (pos > 0) {
    const char prev = text[pos - 1];
    if (prev == '\n') return pos;
    if (prev == ' ' && pos >= 2 &&
        (text[pos - 2] == '.' || text[pos - 2] == '!' || text[pos - 2] == '?'))
      return pos;
    --pos;
  }
  return 0;
}

std::string repeat_to(const std::string& unit, size_t bytes) {
  std::string out;
  out.reserve(bytes + unit.size());
  while (out.size() < bytes) out += unit;
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t'; }

// Haystack of at least `bytes`, cut before the needle-bearing prompt is assembled.
struct Inserted {
  std::string text;
  double depth;
};
Inserted insert_at_depth(const std::string& hay, int64_t k, double depth, const std::string& item) {
  const size_t cut = static_cast<size_t>(k);
  const size_t pos = sentence_start_before(hay, static_cast<size_t>(depth * static_cast<double>(cut)));
  std::string text = hay.substr(0, pos);
  if (!text.empty() && !is_space(text.back())) text += ' ';
  text += item;
  text += ' ';
  text.append(hay, pos, cut - pos);
  return {text, cut > 0 ? static_cast<double>(pos) / static_cast<double>(cut) : 0.0};
}

}  // namespace

nlohmann::json TaskExample::to_json() const {
  nlohmann::json j = {{"task", task}, {"prompt", prompt}, {"answer", answer},
                      {"tokens", tokens}, {"seed", seed}};
  if (depth >= 0) j["depth"] = depth;
  return j;
}

TaskExample make_passkey(const io::Tokenizer& tok, const PasskeyOptions& o) {
  LONGCTX_CHECK(o.target_tokens > 0, "passkey: target tokens must be positive");
  LONGCTX_CHECK(o.depth <= 1, "passkey: depth %g outside [0, 1]", o.depth);
  Rng rng(o.seed ^ 0x7061737374ull);
  const int64_t key = 1 + static_cast<int64_t>(rng.below(50000));
  const double depth = o.depth >= 0 ? o.depth : rng.unit();
  const std::string key_line = "The pass key is " + std::to_string(key) + ". Remember it. " +
                               std::to_string(key) + " is the pass key.";
  const std::string hay = repeat_to(kPasskeyFiller, static_cast<size_t>(o.target_tokens) * 8 + 256);
  double actual_depth = depth;
  auto build = [&](int64_t k) {
    Inserted ins = insert_at_depth(hay, k, depth, key_line);
    actual_depth = ins.depth;
    return std::string(kPasskeyIntro) + ins.text + "\n" + kPasskeyQuestion;
  };
  auto word_cut = [&](int64_t k) { return k == 0 || is_space(hay[static_cast<size_t>(k)]); };
  const int64_t k = fit_to_tokens(tok, o.target_tokens, static_cast<int64_t>(hay.size()) - 1,
                                  build, word_cut, "passkey");
  TaskExample ex;
  ex.task = "passkey";
  ex.prompt = build(k);
  ex.answer = std::to_string(key);
  ex.tokens = count_tokens(tok, ex.prompt);
  ex.depth = actual_depth;
  ex.seed = o.seed;
  return ex;
}

TaskExample make_needle(const io::Tokenizer& tok, const std::string& haystack,
                        const NeedleOptions& o) {
  LONGCTX_CHECK(o.target_tokens > 0, "needle: target tokens must be positive");
  LONGCTX_CHECK(o.depth <= 1, "needle: depth %g outside [0, 1]", o.depth);
  LONGCTX_CHECK(haystack.find_first_not_of(" \t\n") != std::string::npos,
                "needle: the haystack text is empty");
  const bool custom = !o.needle.empty() || !o.question.empty() || !o.answer.empty();
  LONGCTX_CHECK(!custom || (!o.needle.empty() && !o.question.empty() && !o.answer.empty()),
                "needle: give all of needle, question and answer, or none");
  Rng rng(o.seed ^ 0x6E6565646C65ull);
  std::string needle = o.needle, question = o.question, answer = o.answer;
  const double depth = o.depth >= 0 ? o.depth : rng.unit();
  if (!custom) {
    const std::string city = kCities[rng.below(std::size(kCities))];
    answer = std::to_string(1000000 + rng.below(9000000));
    needle = "The special magic number for " + city + " is: " + answer + ".";
    question = "What is the special magic number for " + city +
               " mentioned in the text above? The special magic number for " + city + " is";
  }
  // Real text, repeated with a paragraph break when one pass is not long enough.
  const std::string hay = repeat_to(haystack + "\n\n", static_cast<size_t>(o.target_tokens) * 8 + 256);
  double actual_depth = depth;
  auto build = [&](int64_t k) {
    Inserted ins = insert_at_depth(hay, k, depth, needle);
    actual_depth = ins.depth;
    return ins.text + "\n\n" + question;
  };
  auto word_cut = [&](int64_t k) { return k == 0 || is_space(hay[static_cast<size_t>(k)]); };
  const int64_t k = fit_to_tokens(tok, o.target_tokens, static_cast<int64_t>(hay.size()) - 1,
                                  build, word_cut, "needle");
  TaskExample ex;
  ex.task = "needle";
  ex.prompt = build(k);
  ex.answer = answer;
  ex.tokens = count_tokens(tok, ex.prompt);
  ex.depth = actual_depth;
  ex.seed = o.seed;
  return ex;
}

std::string first_sentence(const std::string& text) {
  size_t i = text.find_first_not_of(" \t\n");
  if (i == std::string::npos) return {};
  std::string out;
  bool space = false;
  int letters = 0;
  for (; i < text.size() && out.size() < 400; ++i) {
    const char c = text[i];
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
    if (std::isalpha(static_cast<unsigned char>(c))) ++letters;
    // A terminator ends the sentence once it has words (".. note" markup does not count).
    if ((c == '.' || c == '!' || c == '?') && letters >= 2 &&
        (i + 1 == text.size() || is_space(text[i + 1])))
      break;
  }
  return out;
}

TaskExample make_first_sentence(const io::Tokenizer& tok, const std::string& document,
                                const FirstSentenceOptions& o) {
  LONGCTX_CHECK(o.target_tokens > 0, "first_sentence: target tokens must be positive");
  const std::string answer = first_sentence(document);
  LONGCTX_CHECK(!answer.empty(), "first_sentence: the document has no text");
  auto build = [&](int64_t k) {
    return document.substr(0, static_cast<size_t>(k)) + kFirstSentenceQuestion;
  };
  auto word_cut = [&](int64_t k) {
    return k == static_cast<int64_t>(document.size()) || is_space(document[static_cast<size_t>(k)]);
  };
  // The prefix must contain the whole first sentence.
  const int64_t k = fit_to_tokens(tok, o.target_tokens, static_cast<int64_t>(document.size()),
                                  build, word_cut, "first_sentence");
  LONGCTX_CHECK(static_cast<size_t>(k) >= document.find_first_not_of(" \t\n") + answer.size(),
                "first_sentence: %lld tokens do not reach the end of the first sentence",
                static_cast<long long>(o.target_tokens));
  TaskExample ex;
  ex.task = "first_sentence";
  ex.prompt = build(k);
  ex.answer = answer;
  ex.tokens = count_tokens(tok, ex.prompt);
  ex.seed = o.seed;
  return ex;
}

}  // namespace longctx::data
