// Carver: lays out many float buffers inside one allocation in two passes over the same
// code, the first counting (base null), the second assigning, so a workspace's size is
// never counted by hand next to the code that uses it (TrainWorkspace, InferenceWorkspace).
#pragma once
#include <cstddef>
#include <cstdint>

namespace longctx::model {

class Carver {
 public:
  static constexpr size_t kFloatAlign = 16;  // 64 bytes: every block starts on a cache line

  explicit Carver(float* base) : base_(base) {}
  float* take(int64_t n) {
    float* p = base_ ? base_ + used_ : nullptr;
    used_ += (static_cast<size_t>(n) + kFloatAlign - 1) / kFloatAlign * kFloatAlign;
    return p;
  }
  size_t used() const { return used_; }  // floats

 private:
  float* base_;
  size_t used_ = 0;
};

}  // namespace longctx::model
