#include "cli/args.h"

#include <sstream>
#include <stdexcept>

#include "core/error.h"

namespace longctx::cli {

std::vector<int64_t> parse_lengths(const std::string& spec, const char* flag) {
  std::vector<int64_t> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int64_t v = 0;
    try {
      size_t used = 0;
      double x = std::stod(item, &used);
      if (used < item.size() && (item[used] == 'k' || item[used] == 'K')) x *= 1024, ++used;
      LONGCTX_CHECK(used == item.size(), "%s: bad length '%s'", flag, item.c_str());
      v = static_cast<int64_t>(x);
    } catch (const std::logic_error&) {
      throw_error("%s: bad length '%s' (e.g. 1024,4k,32k)", flag, item.c_str());
    }
    LONGCTX_CHECK(v > 0, "%s: lengths must be positive, got '%s'", flag, item.c_str());
    out.push_back(v);
  }
  LONGCTX_CHECK(!out.empty(), "%s: no lengths given", flag);
  return out;
}

std::vector<double> parse_numbers(const std::string& spec, const char* flag) {
  std::vector<double> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const double x = std::stod(item, &used);
      LONGCTX_CHECK(used == item.size(), "%s: bad number '%s'", flag, item.c_str());
      out.push_back(x);
    } catch (const std::logic_error&) {
      throw_error("%s: bad number '%s'", flag, item.c_str());
    }
  }
  LONGCTX_CHECK(!out.empty(), "%s: no values given", flag);
  return out;
}

}  // namespace longctx::cli
