// Writing results: every file lands atomically in the output folder (created if needed), so
// an interrupted run never leaves a half-written JSON beside complete ones.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace longctx::eval {

// dir/name <- content, atomically; returns the path.
std::string write_output(const std::string& dir, const std::string& name, const std::string& content);
std::string write_json(const std::string& dir, const std::string& name, const nlohmann::json& j);

// One CSV line from fields (quoted when they hold a comma, quote or newline), ending in \n.
std::string csv_line(const std::vector<std::string>& fields);
// A number for CSV/tables: empty for NaN, else %.6g.
std::string csv_number(double v);

}  // namespace longctx::eval
