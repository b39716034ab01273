#include "model/tensor.h"

namespace slim {

Tensor Tensor::view(const float* data, int64_t rows, int64_t cols, std::shared_ptr<const void> keepalive) {
  Tensor t;
  t.data_ = data;
  t.rows_ = rows;
  t.cols_ = cols;
  t.keepalive_ = std::move(keepalive);
  return t;
}

Tensor Tensor::zeros(int64_t rows, int64_t cols) {
  return from(std::vector<float>(size_t(rows * cols), 0.f), rows, cols);
}

Tensor Tensor::from(std::vector<float> values, int64_t rows, int64_t cols) {
  Tensor t;
  t.owned_ = std::make_shared<std::vector<float>>(std::move(values));
  t.data_ = t.owned_->data();
  t.rows_ = rows;
  t.cols_ = cols;
  return t;
}

float* Tensor::mutable_data() {
  // Copy on write also when the storage is shared with another Tensor (a tied
  // head shares the embedding): writing must not change the other one.
  if (!owned_ || owned_.use_count() > 1) {
    auto copy = std::make_shared<std::vector<float>>(data_, data_ + numel());
    owned_ = std::move(copy);
    keepalive_.reset();
    data_ = owned_->data();
  }
  return owned_->data();
}

}  // namespace slim
