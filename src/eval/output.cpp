#include "eval/output.h"

#include <algorithm>
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

std::string bucket_csv_header(const std::vector<std::string>& mean_columns) {
  std::vector<std::string> fields = {"label", "length", "start", "end"};
  fields.insert(fields.end(), mean_columns.begin(), mean_columns.end());
  fields.push_back("count");
  return csv_line(fields);
}

std::string bucket_csv_lines(const std::string& label, int64_t length,
                             const std::vector<const std::vector<Bucket>*>& series) {
  std::string lines;
  if (series.empty()) return lines;
  const std::vector<Bucket>& first = *series.front();
  for (size_t b = 0; b < first.size(); ++b) {
    std::vector<std::string> fields = {label, std::to_string(length),
                                       std::to_string(first[b].start),
                                       std::to_string(first[b].end)};
    for (const std::vector<Bucket>* s : series) {
      LONGCTX_CHECK(s->size() == first.size() && (*s)[b].start == first[b].start,
                    "bucket_csv_lines: the bucket series of '%s' at length %lld differ",
                    label.c_str(), static_cast<long long>(length));
      fields.push_back(csv_number((*s)[b].mean));
    }
    fields.push_back(std::to_string(first[b].count));
    lines += csv_line(fields);
  }
  return lines;
}

int label_width(const std::vector<std::string>& labels) {
  size_t w = 3;
  for (const std::string& l : labels) w = std::max(w, l.size());
  return static_cast<int>(w);
}

std::string pad_label(const std::string& text, int width) {
  std::string s = text;
  if (static_cast<int>(s.size()) < width) s.append(static_cast<size_t>(width) - s.size(), ' ');
  return s + ' ';
}

}  // namespace longctx::eval
