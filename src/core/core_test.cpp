#include <gtest/gtest.h>

#include "core/buffer.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/threads.h"

namespace longctx {

TEST(Core, ShapeAndStrides) {
  float x[24];
  TensorView v(x, DType::kF32, Shape{2, 3, 4});
  EXPECT_EQ(v.numel(), 24);
  EXPECT_EQ(v.strides[0], 12);
  EXPECT_EQ(v.strides[1], 4);
  EXPECT_EQ(v.strides[2], 1);
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.shape.str(), "(2, 3, 4)");
  v.strides[2] = 2;
  EXPECT_FALSE(v.is_contiguous());
}

TEST(Core, DtypeNamesRoundTripAndBadNameNamesIt) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32})
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  try {
    dtype_from_name("q4_k");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q4_k"), std::string::npos);
  }
}

TEST(Core, ArenaAlignsAndReportsExhaustion) {
  Arena arena(1024);
  auto* a = arena.alloc<float>(3);
  auto* b = arena.alloc<float>(5);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % kAlignment, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % kAlignment, 0u);
  EXPECT_EQ(arena.used(), 128u);
  EXPECT_THROW(arena.alloc<float>(1000), Error);
  arena.reset();
  EXPECT_EQ(arena.used(), 0u);
  EXPECT_EQ(arena.peak(), 128u);
}

TEST(Core, BufferIsZeroedAndAligned) {
  Buffer<float> b(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kAlignment, 0u);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b[i], 0.0f);
}

TEST(Core, ThreadsAreSet) {
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(2);
  EXPECT_EQ(num_threads(), 2);
}

TEST(Core, ErrorContextChains) {
  Error e("bad shape");
  EXPECT_STREQ(e.with_context("tensor 'w'").what(), "tensor 'w': bad shape");
}

}  // namespace longctx
