#include "calib/hessian.h"

#include <cblas.h>

#include <chrono>
#include <cstring>

#include "dist/comm.h"
#include "util/error.h"

namespace slim {

namespace {
// The fp32 SYRK batch, (dim, dim): one per thread, shared by its accumulators.
std::vector<float>& batch_scratch() {
  thread_local std::vector<float> batch;
  return batch;
}
}  // namespace

void HessianAccumulator::release_scratch() { std::vector<float>().swap(batch_scratch()); }

void HessianAccumulator::release() {
  std::vector<double>().swap(sum_);
  std::vector<double>().swap(slice_);
  std::vector<double>().swap(slice_diag_);
  slice_begin_ = -1;
  holds_sum_ = false;
}

void HessianAccumulator::reset(int64_t dim) {
  dim_ = dim;
  sequences_ = tokens_ = 0;
  holds_sum_ = true;
  slice_.clear();
  slice_diag_.clear();
  slice_begin_ = -1;
  sum_.reserve(size_t(dim * (dim + 1) / 2 + 2));  // reduce_over_ranks appends two counts without a reallocation
  sum_.assign(size_t(dim * (dim + 1) / 2), 0.0);
}

void HessianAccumulator::add(const float* x, int64_t T) {
  using Clock = std::chrono::steady_clock;
  SLIM_CHECK(int64_t(sum_.size()) == dim_ * (dim_ + 1) / 2, "internal: adding to a released {}-wide Hessian", dim_);
  std::vector<float>& batch = batch_scratch();
  if (int64_t(batch.size()) < dim_ * dim_) batch.resize(size_t(dim_ * dim_));
  const auto t0 = Clock::now();
  // batch = xᵀx (upper triangle), x is (T, dim) row-major.
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int(dim_), int(T), 1.f, x, int(dim_), 0.f, batch.data(),
              int(dim_));
  const auto t1 = Clock::now();
  const int64_t n = dim_;
  // Row i of the upper triangle holds n - i values: chunks handed out
  // dynamically keep the threads even (static halves gave one thread 3/4).
  const float* bt = batch.data();
  double* sum = sum_.data();
#pragma omp parallel for schedule(dynamic, 64) if (n > 256)
  for (int64_t i = 0; i < n; ++i) {
    double* s = sum + dist::packed_upper_index(n, i, i);
    const float* b = bt + i * n;
    for (int64_t j = i; j < n; ++j) s[j - i] += b[j];
  }
  syrk_s_ += std::chrono::duration<double>(t1 - t0).count();
  sum_s_ += std::chrono::duration<double>(Clock::now() - t1).count();
  ++sequences_;
  tokens_ += T;
}

void HessianAccumulator::reduce_to_slices(std::vector<double>& packed, dist::Wire wire) {
  const int64_t n = dim_, total = n * (n + 1) / 2;
  double counts[2] = {packed[size_t(total)], packed[size_t(total + 1)]};
  dist::allreduce_sum(counts);
  sequences_ = int64_t(counts[0]);
  tokens_ = int64_t(counts[1]);
  packed.resize(size_t(total));
  slice_ = dist::reduce_scatter_sum(packed, wire);
  std::vector<double>().swap(packed);
  const dist::Share mine = dist::my_share(total);
  slice_begin_ = mine.begin;
  holds_sum_ = false;
  // H's diagonal: each rank's diagonal entries, allgathered in rank (= row) order.
  const double s = scale();
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
  return {slice_, slice_begin_, scale()};
}

std::span<const double> HessianAccumulator::slice_diagonal() const {
  SLIM_CHECK(slice_begin_ >= 0, "internal: a {}-wide Hessian that was not reduced to slices", dim_);
  return slice_diag_;
}

void HessianAccumulator::reduce_over_ranks(int root, dist::Wire wire) {
  if (dist::size() == 1) return;
  SLIM_CHECK(holds_sum_, "internal: a {}-wide Hessian reduced twice", dim_);
  const int64_t n = dim_;
  // The packed upper triangle and the two counts: half the bytes of the square.
  const size_t k = size_t(n * (n + 1) / 2);
  std::vector<double> packed;
  if (root == kSliced) {  // the sum itself becomes the send buffer
    packed.swap(sum_);
  } else {
    packed.reserve(k + 2);
    packed = sum_;
  }
  packed.resize(k + 2);
  packed[k] = double(sequences_);
  packed[k + 1] = double(tokens_);
  if (root == kSliced) {
    reduce_to_slices(packed, wire);
    return;
  }
  // fp32 on the wire: the counts (integers, maybe past 2^24 tokens) go apart, in fp64.
  std::span<double> sums(packed);
  if (wire == dist::Wire::kFp32) {
    dist::allreduce_sum(sums.subspan(k));
    sums = sums.first(k);
  }
  if (root == kEveryRank) {
    dist::allreduce_sum(sums, wire);
  } else {
    dist::reduce_sum(sums, root, wire);
    if (dist::rank() != root) {
      release();
      return;
    }
  }
  std::copy(packed.begin(), packed.begin() + ptrdiff_t(k), sum_.begin());
  sequences_ = int64_t(packed[k]);
  tokens_ = int64_t(packed[k + 1]);
}

std::vector<double> HessianAccumulator::hessian() const {
  const dist::SymmetricSlice p = packed();
  const int64_t n = dim_;
  std::vector<double> h(size_t(n * n));
  for (int64_t i = 0; i < n; ++i) {
    const double* row = p.packed.data() + dist::packed_upper_index(n, i, i);
    for (int64_t j = i; j < n; ++j) h[size_t(i * n + j)] = h[size_t(j * n + i)] = p.scale * row[j - i];
  }
  return h;
}

dist::SymmetricSlice HessianAccumulator::packed() const {
  SLIM_CHECK(holds_sum_, "internal: rank {} asked for a {}-wide Hessian it does not hold (reduced to another rank or to slices)",
             dist::rank(), dim_);
  return {sum_, 0, scale()};
}

std::vector<double> HessianAccumulator::diagonal() const {
  const dist::SymmetricSlice p = packed();
  std::vector<double> d(static_cast<size_t>(dim_));
  for (int64_t i = 0; i < dim_; ++i) d[size_t(i)] = p.scale * p.packed[size_t(dist::packed_upper_index(dim_, i, i))];
  return d;
}

}  // namespace slim
