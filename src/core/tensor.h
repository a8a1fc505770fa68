// Tensor views: shape, strides and dtype over a flat buffer owned elsewhere.
// Views never own memory; buffers (core/buffer.h) and the model's weight
// blocks do. Kernels take raw typed pointers plus explicit dimensions
// (llm.c style); views are how the model, io and tests name and check them.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/error.h"

namespace longctx {

enum class DType : uint8_t { kF32 = 0, kF16 = 1, kBF16 = 2, kF64 = 3, kI32 = 4, kI64 = 5, kU8 = 6 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "f16", "bf16", "f64", "i32", "i64", "u8"
DType dtype_from_name(const std::string& name);  // throws Error naming the string

constexpr int kMaxDims = 4;

struct Shape {
  int ndim = 0;
  std::array<int64_t, kMaxDims> dims{};

  Shape() = default;
  Shape(std::initializer_list<int64_t> d);
  int64_t numel() const;
  int64_t operator[](int i) const { return dims[static_cast<size_t>(i)]; }
  bool operator==(const Shape& o) const;
  std::string str() const;  // "(2, 3, 4)"
};

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Shape shape;
  std::array<int64_t, kMaxDims> strides{};  // in elements

  TensorView() = default;
  // Contiguous row-major view.
  TensorView(void* data, DType dtype, Shape shape);

  int64_t numel() const { return shape.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  bool is_contiguous() const;

  template <class T>
  T* as() const {
    return static_cast<T*>(data);
  }
  float* f32() const;  // checks dtype == f32
};

}  // namespace longctx
