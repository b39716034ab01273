// Salience-weighted quantizer calibration (SQC, spec §3): the group fitter
// of SliM-LLM, plugged into GPTQ through GptqOptions::fitter.
//
// Per row of a group (bits >= 2): start from the min-max range [xmin, xmax]
// (0 forced inside, an all-zero row gets [-1, 1], as fit_minmax), then try the
// range factors p of sqc_grid() in the reference order
//   1.0, 1.002, …, 1.1, 0.998, …, 0.9          (101 values; SqcOptions::p_min
//                                              moves the 0.9 end, same count)
// with lo = p·xmin, hi = p·xmax, scale = (hi − lo)/(2^b − 1),
// zero = round(−lo/scale) (integer, as fit_minmax), and keep the first p with
// the smallest (strict <) error
//   Σ_c weight_c · |deq(w_c) − w_c|^2.4,   weight = λ on salient elements, else 1.
// p = 1.0 is tried first, so the result is never worse than plain min-max on
// this objective. 1-bit groups use the binary fit (no search).
//
// Salient elements: element salience s = w²/U_cc² over the whole group
// (all rows, the group's columns), μ and σ (unbiased) over the group; an
// element is salient when (s − μ)/σ > z (z = 2). None may qualify (σ = 0, or
// no outlier): the threshold is +inf and every weight is 1. The reference
// uses |z| > 2 (a group with a tight salience spread then marks its LOW
// outliers and everything above them as salient); `faithful` reproduces that.
// With λ = 1 (the reference default) the split has no effect and is skipped.
//
// |e|^2.4 is e² · |e|^0.4 with |e|^0.4 from a vectorisable log/exp pair
// (relative error ~1e-6, see sqc_pow24); the codes and dequantized values are
// bit-identical to fake_quant. The sum runs in a fixed 16-lane order and a
// candidate is abandoned once its partial sum cannot win (exact pruning, see
// sqc_kernel.h); AVX-512 is used when the CPU has it, with the same result.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "quant/gptq.h"
#include "quant/quantizer.h"

namespace slim {

struct SqcOptions {
  double lambda = 1.0;   // weight of the salient elements' error (1: measured best, docs/RESULTS.md)
  double z = 2.0;        // z-score threshold of salient elements
  bool faithful = false; // two-sided |z| > threshold, as the reference
  // Lower end of the range factors. The reference stops at 0.9; at 2 bits the
  // best clipping is often much tighter (0.5 cuts stories260K's 2-bit
  // perplexity by a third, docs/RESULTS.md). Same 101 points, same cost.
  double p_min = 0.9;
  // 1-bit groups: 0 = the reference's binary-with-mean fit; n > 0 = n Lloyd
  // rounds (fit_binary_lloyd), a lower squared error with the same storage.
  int binary_iters = 0;
  // How the grid is visited (SqcPlan): coarse stride (0 or 1: grid order)
  // and from which group width on the refinement is local (approximate):
  // 0 never (exact everywhere), 2 every searched width, 3 only groups of >= 3
  // bits (sqc_local_min_bits). Why per width: on stories260K the local
  // refinement cost 2-bit models 4.6% perplexity but not 3-bit ones, so 2-bit
  // groups keep the exact search. Not the default: with it 2-bit models were
  // still +2.3% and 4-bit +1.0% (3-bit -0.7%), docs/RESULTS.md.
  int coarse = 0;
  int local_min_bits = 0;
};

// --sqc-refine's values as SqcOptions::local_min_bits: "all" 0 (exact),
// "local" 2 (every width), "auto" 3 (exact for 2-bit groups, local for wider
// ones). Throws slim::Error for anything else.
int sqc_local_min_bits(const std::string& refine);

// The order in which sqc_fit_row visits a grid. coarse <= 1: the grid's own
// order. coarse = k >= 2: first every k-th factor by value (both ends and 1.0
// included), then
//   local = false: all the others, nearest (by value rank) to the coarse
//     winner first. EXACT: the answer is the plain grid's (the winner is the
//     lowest index among the smallest errors whatever the order); only the
//     pruning changes, which stops a candidate once its partial sum cannot
//     win and so works best when a near-optimal candidate came early.
//   local = true: only the factors strictly between the coarse winner's two
//     coarse neighbours. APPROXIMATE (about 101/k + 2k evaluations instead of
//     101): misses the optimum when the objective has a better local minimum
//     away from the coarse winner; never worse than min-max (1.0 is coarse).
struct SqcPlan {
  std::vector<float> grid;     // the range factors, grid order (grid[0] = 1.0)
  std::vector<int> by_value;   // grid indices sorted by factor
  std::vector<int> coarse;     // grid indices of the coarse pass; empty: plain order
  std::vector<int> rank;       // grid index -> position in by_value
  std::vector<char> in_coarse; // by value position: visited by the coarse pass
  int stride = 0;
  bool local = false;
};
SqcPlan make_sqc_plan(std::span<const float> grid, int coarse = 0, bool local = false);

// The 101 range factors in the reference order (fp32).
std::span<const float> sqc_grid();
// The same order with the shrinking half ending at p_min (0 < p_min < 1)
// instead of 0.9: 1.0, 1.002, …, 1.1, then 50 steps down to p_min.
std::array<float, 101> sqc_grid(double p_min);

// 1-bit fit minimising the squared error: the two levels zero ± scale are the
// means of the weights on each side of the threshold `zero`, and the threshold
// moves to their midpoint (Lloyd / 2-means), `iters` rounds from the
// binary-with-mean start. Stored as fp16 like every fit.
QuantParams fit_binary_lloyd(std::span<const float> w, int iters);

// |x|^2.4 as the fitter computes it (exposed for tests).
float sqc_pow24(float x);

// Salience threshold of a group: w (rows, width) with leading dimension ld,
// u_diag (width). Elements with w²/u² >= the threshold are salient; +inf when
// none is.
double sqc_salience_threshold(const float* w, int64_t rows, int64_t width, int64_t ld,
                              std::span<const double> u_diag, const SqcOptions& opt = {});

// One row: the search above. weight: (width) per-element weights, or empty
// for all 1. bits 1..8 (1: binary fit).
// grid: the range factors to try (at most 101), starting with 1.0 (sqc_grid()).
// prune = false evaluates every candidate in full (the plain grid; same
// result, for tests).
QuantParams sqc_fit_row(std::span<const float> w, std::span<const float> weight, int bits,
                        std::span<const float> grid = sqc_grid(), bool prune = true);
// The same with a visiting order (the fitter builds its plan once).
QuantParams sqc_fit_row(std::span<const float> w, std::span<const float> weight, int bits, const SqcPlan& plan,
                        bool prune = true);

// The search objective of one row under p, in the fitter's own arithmetic.
double sqc_row_objective(std::span<const float> w, std::span<const float> weight, const QuantParams& p, int bits);

// A GroupFitter running SQC on every row of the group (rows in parallel).
GroupFitter make_sqc_fitter(const SqcOptions& opt = {});

}  // namespace slim
