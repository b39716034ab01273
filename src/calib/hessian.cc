#include "calib/hessian.h"

#include <cblas.h>

namespace slim {

void HessianAccumulator::reset(int64_t dim) {
  dim_ = dim;
  sequences_ = tokens_ = 0;
  sum_.assign(size_t(dim * dim), 0.0);
  batch_.assign(size_t(dim * dim), 0.f);
}

void HessianAccumulator::add(const float* x, int64_t T) {
  // batch = xᵀx (upper triangle), x is (T, dim) row-major.
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int(dim_), int(T), 1.f, x, int(dim_), 0.f, batch_.data(),
              int(dim_));
  const int64_t n = dim_;
#pragma omp parallel for schedule(static) if (n > 256)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) sum_[size_t(i * n + j)] += batch_[size_t(i * n + j)];
  ++sequences_;
  tokens_ += T;
}

std::vector<double> HessianAccumulator::hessian() const {
  const int64_t n = dim_;
  std::vector<double> h(size_t(n * n));
  const double s = sequences_ > 0 ? 2.0 / double(sequences_) : 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) h[size_t(i * n + j)] = h[size_t(j * n + i)] = s * sum_[size_t(i * n + j)];
  return h;
}

}  // namespace slim
