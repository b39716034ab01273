#include "calib/hessian.h"

#include <cblas.h>

#include <chrono>
#include <cstring>

#include "dist/comm.h"
#include "util/error.h"

namespace slim {

void HessianAccumulator::reset(int64_t dim) {
  dim_ = dim;
  sequences_ = tokens_ = 0;
  holds_sum_ = true;
  slice_.clear();
  slice_diag_.clear();
  slice_begin_ = -1;
  sum_.assign(size_t(dim * dim), 0.0);
  batch_.assign(size_t(dim * dim), 0.f);
}

void HessianAccumulator::add(const float* x, int64_t T) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  // batch = xᵀx (upper triangle), x is (T, dim) row-major.
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int(dim_), int(T), 1.f, x, int(dim_), 0.f, batch_.data(),
              int(dim_));
  const auto t1 = Clock::now();
  const int64_t n = dim_;
  // Row i of the upper triangle holds n - i values: chunks handed out
  // dynamically keep the threads even (static halves gave one thread 3/4).
#pragma omp parallel for schedule(dynamic, 64) if (n > 256)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) sum_[size_t(i * n + j)] += batch_[size_t(i * n + j)];
  syrk_s_ += std::chrono::duration<double>(t1 - t0).count();
  sum_s_ += std::chrono::duration<double>(Clock::now() - t1).count();
  ++sequences_;
  tokens_ += T;
}

void HessianAccumulator::reduce_to_slices(std::vector<double>& packed) {
  const int64_t n = dim_, total = n * (n + 1) / 2;
  double counts[2] = {packed[size_t(total)], packed[size_t(total + 1)]};
  dist::allreduce_sum(counts);
  sequences_ = int64_t(counts[0]);
  tokens_ = int64_t(counts[1]);
  packed.resize(size_t(total));
  slice_ = dist::reduce_scatter_sum(packed);
  std::vector<double>().swap(packed);
  const dist::Share mine = dist::my_share(total);
  slice_begin_ = mine.begin;
  holds_sum_ = false;
  // H's diagonal: each rank's diagonal entries, allgathered in rank (= row) order.
  const double s = sequences_ > 0 ? 2.0 / double(sequences_) : 0.0;
  std::vector<double> mine_diag;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = dist::packed_upper_index(n, i, i);
    if (k >= mine.begin && k < mine.end) mine_diag.push_back(s * slice_[size_t(k - mine.begin)]);
  }
  const std::vector<std::byte> all = dist::allgather(std::as_bytes(std::span(mine_diag)));
  SLIM_CHECK(all.size() == size_t(n) * sizeof(double), "internal: {} bytes of a {}-wide Hessian diagonal", all.size(), n);
  slice_diag_.resize(size_t(n));
  std::memcpy(slice_diag_.data(), all.data(), all.size());
}

dist::SymmetricSlice HessianAccumulator::slice() const {
  SLIM_CHECK(slice_begin_ >= 0, "internal: a {}-wide Hessian that was not reduced to slices", dim_);
  return {slice_, slice_begin_, sequences_ > 0 ? 2.0 / double(sequences_) : 0.0};
}

std::span<const double> HessianAccumulator::slice_diagonal() const {
  SLIM_CHECK(slice_begin_ >= 0, "internal: a {}-wide Hessian that was not reduced to slices", dim_);
  return slice_diag_;
}

void HessianAccumulator::reduce_over_ranks(int root) {
  if (dist::size() == 1) return;
  SLIM_CHECK(holds_sum_, "internal: a {}-wide Hessian reduced twice", dim_);
  const int64_t n = dim_;
  // The upper triangle and the two counts, packed: half the bytes of the square.
  std::vector<double> packed(size_t(n * (n + 1) / 2 + 2));
  size_t k = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) packed[k++] = sum_[size_t(i * n + j)];
  packed[k] = double(sequences_);
  packed[k + 1] = double(tokens_);
  if (root == kSliced) {
    reduce_to_slices(packed);
    return;
  }
  if (root == kEveryRank) {
    dist::allreduce_sum(packed);
  } else {
    dist::reduce_sum(packed, root);
    if (dist::rank() != root) {
      holds_sum_ = false;
      return;
    }
  }
  k = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) sum_[size_t(i * n + j)] = packed[k++];
  sequences_ = int64_t(packed[k]);
  tokens_ = int64_t(packed[k + 1]);
}

std::vector<double> HessianAccumulator::hessian() const {
  SLIM_CHECK(holds_sum_, "internal: rank {} asked for a {}-wide Hessian it does not hold (reduced to another rank or to slices)",
             dist::rank(), dim_);
  const int64_t n = dim_;
  std::vector<double> h(size_t(n * n));
  const double s = sequences_ > 0 ? 2.0 / double(sequences_) : 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) h[size_t(i * n + j)] = h[size_t(j * n + i)] = s * sum_[size_t(i * n + j)];
  return h;
}

}  // namespace slim
