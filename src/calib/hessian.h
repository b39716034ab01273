// Per-input Hessian of the layer-wise GPTQ objective, H = 2/n Σ_tokens xᵀx,
// with n the number of calibration SEQUENCES (as the reference counts it; the
// scale only matters for absolute damping). Each batch is accumulated with one
// fp32 SYRK (sgemm speed) into an fp32 scratch, then added into an fp64 sum, so
// rounding error grows with the batch length, not with the whole data set.
//
// Memory (issue 10): the fp64 sum is kept as a packed upper triangle
// (n(n+1)/2 values, half the square), and the fp32 batch is one scratch
// shared by every accumulator of the thread (they are fed one at a time), so
// a 7B block's four sites hold 0.69 GB of sums instead of 2.05 GB of sums and
// batches.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "dist/comm.h"
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
  // `wire` (dist/comm.h): kFp32 sends each rank's partial sums rounded to
  // fp32, half the bytes; the token and window counts travel in fp64 always.
  static constexpr int kEveryRank = -1, kSliced = -2;
  void reduce_over_ranks(int root = kEveryRank, dist::Wire wire = dist::Wire::kFp64);
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
  // The same H without the copy: the whole packed upper triangle as a slice
  // that starts at 0 (H[i][j] = scale * packed[packed_upper_index(dim, i, j)],
  // the same values as hessian()), and H's diagonal. Valid while this
  // accumulator holds the sum and is not reset.
  dist::SymmetricSlice packed() const;
  std::vector<double> diagonal() const;
  // Frees the sums (the accumulator then holds nothing until reset).
  void release();
  // Frees the shared fp32 batch scratch of the calling thread (it is
  // allocated again by the next add()).
  static void release_scratch();
  // Seconds spent in add() so far: the fp32 SYRK, and adding it into the fp64 sum.
  double syrk_seconds() const { return syrk_s_; }
  double sum_seconds() const { return sum_s_; }

 private:
  void reduce_to_slices(std::vector<double>& packed, dist::Wire wire);
  // hessian()'s factor 2/n on the sums (0 before any sequence).
  double scale() const { return sequences_ > 0 ? 2.0 / double(sequences_) : 0.0; }
  int64_t dim_ = 0, sequences_ = 0, tokens_ = 0;
  double syrk_s_ = 0, sum_s_ = 0;
  bool holds_sum_ = true;
  std::vector<double> slice_, slice_diag_;  // kSliced: this rank's share, H's diagonal
  int64_t slice_begin_ = -1;
  std::vector<double> sum_;  // (dim (dim + 1) / 2) packed upper triangle, row by row
};

}  // namespace slim
