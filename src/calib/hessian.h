// Per-input Hessian of the layer-wise GPTQ objective, H = 2/n Σ_tokens xᵀx,
// with n the number of calibration SEQUENCES (as the reference counts it; the
// scale only matters for absolute damping). Each batch is accumulated with one
// fp32 SYRK (sgemm speed) into an fp32 scratch, then added into an fp64 sum, so
// rounding error grows with the batch length, not with the whole data set.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "dist/factor.h"

namespace slim {

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t dim = 0) { reset(dim); }
  void reset(int64_t dim);
  // x: (T, dim) activations of one sequence.
  void add(const float* x, int64_t T);
  // Every rank's sums added up (in rank order, dist/comm.h): afterwards rank
  // `root` holds the accumulator of all ranks' sequences, or every rank with
  // kEveryRank. The sums are the same bits either way. A rank left without
  // them refuses hessian() (its partial sum would be silently wrong). No-op
  // with one rank.
  // kSliced: every rank keeps only its share of the sums (slice()), for the
  // GPTQ factor over ranks, which moves each entry to the rank that needs it.
  static constexpr int kEveryRank = -1, kSliced = -2;
  void reduce_over_ranks(int root = kEveryRank);
  // After reduce_over_ranks(kSliced): this rank's share of H's packed upper
  // triangle (scaled as hessian() scales, so the same values) and H's whole
  // diagonal, on every rank.
  dist::SymmetricSlice slice() const;
  std::span<const double> slice_diagonal() const;
  // False on a rank that a reduce_over_ranks to another rank left without the sums.
  bool holds_sum() const { return holds_sum_; }
  int64_t dim() const { return dim_; }
  int64_t sequences() const { return sequences_; }
  int64_t tokens() const { return tokens_; }
  // The full symmetric H = 2/n Σ xᵀx, (dim, dim) row-major.
  std::vector<double> hessian() const;
  // Seconds spent in add() so far: the fp32 SYRK, and adding it into the fp64 sum.
  double syrk_seconds() const { return syrk_s_; }
  double sum_seconds() const { return sum_s_; }

 private:
  void reduce_to_slices(std::vector<double>& packed);
  int64_t dim_ = 0, sequences_ = 0, tokens_ = 0;
  double syrk_s_ = 0, sum_s_ = 0;
  bool holds_sum_ = true;
  std::vector<double> slice_, slice_diag_;  // kSliced: this rank's share, H's diagonal
  int64_t slice_begin_ = -1;
  std::vector<double> sum_;   // (dim, dim), upper triangle valid
  std::vector<float> batch_;  // (dim, dim) scratch
};

}  // namespace slim
