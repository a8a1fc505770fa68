// Flag values shared by several commands, parsed in one place.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace longctx::cli {

// "1024,4k,32k" -> {1024, 4096, 32768} (k = 1024); Error naming the flag on bad items.
std::vector<int64_t> parse_lengths(const std::string& spec, const char* flag);
// "0,0.25,0.5" -> {0, 0.25, 0.5}; Error naming the flag on bad items.
std::vector<double> parse_numbers(const std::string& spec, const char* flag);

}  // namespace longctx::cli
