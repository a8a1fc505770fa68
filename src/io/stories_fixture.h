// Test-only (needs LONGCTX_SHARED_DATA, which only test targets define): the tiny
// stories260K model of the shared data folder and the text it generates greedily
// from BOS alone, shared by the io tests and the `longctx generate/convert` tests
// so that both check the same expected output.
#pragma once
#include <string>

namespace longctx::test_fixtures {

inline const std::string kData = LONGCTX_SHARED_DATA;
inline const std::string kStories = kData + "/models/stories260K-f32.gguf";
inline const std::string kStoriesText =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

}  // namespace longctx::test_fixtures
