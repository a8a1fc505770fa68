// Writing results: every file lands atomically in the output folder (created if needed), so
// an interrupted run never leaves a half-written JSON beside complete ones.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "eval/stats.h"

namespace longctx::eval {

// dir/name <- content, atomically; returns the path.
std::string write_output(const std::string& dir, const std::string& name, const std::string& content);
std::string write_json(const std::string& dir, const std::string& name, const nlohmann::json& j);

// One CSV line from fields (quoted when they hold a comma, quote or newline), ending in \n.
std::string csv_line(const std::vector<std::string>& fields);
// A number for CSV/tables: empty for NaN, else %.6g.
std::string csv_number(double v);

// A per-position buckets CSV (kld_buckets.csv, ppl_buckets.csv): the header line
// label,length,start,end,<mean_columns...>,count, and the lines of one row at one length,
// one mean column per bucket series (series of the same buckets, e.g. KL and agreement).
std::string bucket_csv_header(const std::vector<std::string>& mean_columns);
std::string bucket_csv_lines(const std::string& label, int64_t length,
                             const std::vector<const std::vector<Bucket>*>& series);

// Text tables: `text` left-aligned in a column as wide as the longest of `labels` (and at
// least the header "row"), plus one space.
int label_width(const std::vector<std::string>& labels);
std::string pad_label(const std::string& text, int width);

}  // namespace longctx::eval
