// Fp32 2-D tensor used for weights: either a view into a memory-mapped file
// (zero copy) or owned storage (converted from fp16/bf16, or replaced by a
// quantizer). Shape is (rows, cols), row-major; a vector is (1, n).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace slim {

class Tensor {
 public:
  Tensor() = default;
  // A view into memory kept alive by `keepalive` (the mapping).
  static Tensor view(const float* data, int64_t rows, int64_t cols, std::shared_ptr<const void> keepalive);
  // Owned, zero-filled.
  static Tensor zeros(int64_t rows, int64_t cols);
  static Tensor from(std::vector<float> values, int64_t rows, int64_t cols);

  const float* data() const { return data_; }
  // Mutable access: a view is first copied into owned storage (copy on write).
  float* mutable_data();
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t numel() const { return rows_ * cols_; }
  bool empty() const { return numel() == 0; }
  bool is_view() const { return owned_ == nullptr && data_ != nullptr; }
  std::span<const float> span() const { return {data_, size_t(numel())}; }
  const float* row(int64_t r) const { return data_ + r * cols_; }

 private:
  const float* data_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
  std::shared_ptr<std::vector<float>> owned_;
  std::shared_ptr<const void> keepalive_;
};

}  // namespace slim
