// Test-only helpers of the eval tests: stories260K (from the shared data folder; tests skip
// when it is absent) and a temporary folder removed at exit.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

#include "eval/sources.h"
#include "io/stories_fixture.h"

namespace longctx::eval::test {

inline bool have_stories() { return std::filesystem::exists(test_fixtures::kStories); }
inline const std::string kNovel = test_fixtures::kData + "/text/pg11.txt";  // Alice in Wonderland

// A fresh folder under the system temp dir, unique per process and name.
inline std::string temp_dir(const std::string& name) {
  const auto p = std::filesystem::temp_directory_path() /
                 ("longctx_eval_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

}  // namespace longctx::eval::test
