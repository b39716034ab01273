#include "model/tensor.h"

#include <cstring>

#include "model/dense16.h"
#include "util/error.h"

namespace slim {

const char* elem_type_name(ElemType t) {
  switch (t) {
    case ElemType::F32: return "F32";
    case ElemType::F16: return "F16";
    case ElemType::BF16: return "BF16";
  }
  return "?";
}

void Tensor::not_f32() { fail("internal: fp32 access to a 16-bit tensor (convert it with to_f32() first)"); }

Tensor Tensor::view(const float* data, int64_t rows, int64_t cols, std::shared_ptr<const void> keepalive) {
  Tensor t;
  t.data_ = data;
  t.rows_ = rows;
  t.cols_ = cols;
  t.keepalive_ = std::move(keepalive);
  return t;
}

Tensor Tensor::view16(const uint16_t* data, ElemType type, int64_t rows, int64_t cols,
                      std::shared_ptr<const void> keepalive) {
  SLIM_CHECK(type != ElemType::F32, "internal: view16 of an F32 tensor");
  Tensor t = view(nullptr, rows, cols, std::move(keepalive));
  t.data_ = data;
  t.type_ = type;
  return t;
}

Tensor Tensor::rows_view(int64_t r0, int64_t r1) const {
  SLIM_CHECK(0 <= r0 && r0 <= r1 && r1 <= rows_, "internal: rows [{}, {}) of a {}-row tensor", r0, r1, rows_);
  Tensor t;
  t.data_ = static_cast<const char*>(data_) + r0 * cols_ * int64_t(elem_bytes());
  t.rows_ = r1 - r0;
  t.cols_ = cols_;
  t.type_ = type_;
  // A view (never owned): writing to it copies first, so siblings are untouched.
  t.keepalive_ = owned_ ? std::shared_ptr<const void>(owned_) : keepalive_;
  return t;
}

Tensor Tensor::zeros(int64_t rows, int64_t cols) {
  return from(std::vector<float>(size_t(rows * cols), 0.f), rows, cols);
}

Tensor Tensor::owned(std::shared_ptr<void> storage, const void* data, ElemType type, int64_t rows, int64_t cols) {
  Tensor t;
  t.data_ = data;
  t.owned_ = std::move(storage);
  t.rows_ = rows;
  t.cols_ = cols;
  t.type_ = type;
  return t;
}

Tensor Tensor::from(std::vector<float> values, int64_t rows, int64_t cols) {
  SLIM_CHECK(int64_t(values.size()) == rows * cols, "internal: {} values for a {}x{} tensor", values.size(), rows, cols);
  auto v = std::make_shared<std::vector<float>>(std::move(values));
  const void* data = v->data();
  return owned(std::move(v), data, ElemType::F32, rows, cols);
}

Tensor Tensor::from16(std::vector<uint16_t> values, ElemType type, int64_t rows, int64_t cols) {
  SLIM_CHECK(type != ElemType::F32 && int64_t(values.size()) == rows * cols,
             "internal: {} 16-bit values for a {}x{} tensor", values.size(), rows, cols);
  auto v = std::make_shared<std::vector<uint16_t>>(std::move(values));
  const void* data = v->data();
  return owned(std::move(v), data, type, rows, cols);
}

const uint16_t* Tensor::data16() const {
  SLIM_CHECK(!is_f32(), "internal: 16-bit access to an F32 tensor");
  return static_cast<const uint16_t*>(data_);
}

float* Tensor::mutable_data() {
  if (!is_f32()) not_f32();
  // Copy on write also when the storage is shared with another Tensor (a tied
  // head shares the embedding): writing must not change the other one.
  if (!owned_ || owned_.use_count() > 1) {
    const float* src = static_cast<const float*>(data_);
    auto copy = std::make_shared<std::vector<float>>(src, src + numel());
    data_ = copy->data();
    owned_ = std::move(copy);
    keepalive_.reset();
  }
  return static_cast<float*>(const_cast<void*>(data_));
}

Tensor Tensor::to_f32() const {
  if (is_f32()) return *this;
  std::vector<float> v(static_cast<size_t>(numel()));
  rows_to_f32(0, rows_, v.data(), cols_);
  return from(std::move(v), rows_, cols_);
}

void Tensor::rows_to_f32(int64_t r0, int64_t r1, float* out, int64_t ldo) const {
  SLIM_CHECK(0 <= r0 && r0 <= r1 && r1 <= rows_ && ldo >= cols_, "internal: rows [{}, {}) of {} rows, ldo {}", r0, r1,
             rows_, ldo);
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * ldo;
    if (is_f32())
      std::memcpy(o, static_cast<const float*>(data_) + r * cols_, size_t(cols_) * 4);
    else
      dense16_to_f32(static_cast<const uint16_t*>(data_) + r * cols_, type_, cols_, o);
  }
}

}  // namespace slim
