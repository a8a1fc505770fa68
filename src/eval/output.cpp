#include "eval/output.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/mapped_file.h"

namespace longctx::eval {

std::string write_output(const std::string& dir, const std::string& name, const std::string& content) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  LONGCTX_CHECK(!ec, "--out '%s': cannot create the folder: %s", dir.c_str(), ec.message().c_str());
  const std::string path = (std::filesystem::path(dir) / name).string();
  io::write_file_atomic(path, content.data(), content.size());
  return path;
}

std::string write_json(const std::string& dir, const std::string& name, const nlohmann::json& j) {
  return write_output(dir, name, j.dump(1) + "\n");
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string s;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) s += ',';
    const std::string& f = fields[i];
    if (f.find_first_of(",\"\n") == std::string::npos) {
      s += f;
      continue;
    }
    s += '"';
    for (const char c : f) {
      if (c == '"') s += '"';
      s += c;
    }
    s += '"';
  }
  return s + "\n";
}

std::string csv_number(double v) { return std::isnan(v) ? std::string() : strformat("%.6g", v); }

}  // namespace longctx::eval
