#include "core/tensor.h"

namespace longctx {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kF64: return 8;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kU8: return 1;
  }
  throw_error("dtype_size: invalid dtype %d", static_cast<int>(t));
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kF64: return "f64";
    case DType::kI32: return "i32";
    case DType::kI64: return "i64";
    case DType::kU8: return "u8";
  }
  return "invalid";
}

DType dtype_from_name(const std::string& name) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI32, DType::kI64,
                  DType::kU8}) {
    if (name == dtype_name(t)) return t;
  }
  throw_error("unknown dtype '%s' (known: f32, f16, bf16, f64, i32, i64, u8)", name.c_str());
}

Shape::Shape(std::initializer_list<int64_t> d) {
  LONGCTX_CHECK(d.size() <= kMaxDims, "Shape: %zu dimensions, at most %d supported", d.size(),
                kMaxDims);
  for (int64_t v : d) {
    LONGCTX_CHECK(v >= 0, "Shape: negative dimension %lld", static_cast<long long>(v));
    dims[static_cast<size_t>(ndim++)] = v;
  }
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= dims[static_cast<size_t>(i)];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (dims[static_cast<size_t>(i)] != o.dims[static_cast<size_t>(i)]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[static_cast<size_t>(i)]);
  }
  return s + ")";
}

TensorView::TensorView(void* d, DType t, Shape s) : data(d), dtype(t), shape(s) {
  int64_t stride = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    strides[static_cast<size_t>(i)] = stride;
    stride *= shape.dims[static_cast<size_t>(i)];
  }
}

bool TensorView::is_contiguous() const {
  int64_t stride = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    if (shape.dims[static_cast<size_t>(i)] != 1 && strides[static_cast<size_t>(i)] != stride)
      return false;
    stride *= shape.dims[static_cast<size_t>(i)];
  }
  return true;
}

float* TensorView::f32() const {
  LONGCTX_CHECK(dtype == DType::kF32, "tensor view: expected f32, got %s", dtype_name(dtype));
  return static_cast<float*>(data);
}

}  // namespace longctx
