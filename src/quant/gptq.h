// GPTQ (Frantar et al. 2022): column-by-column quantization with
// inverse-Hessian error feedback, lazy block updates, group-wise quantizers
// re-fit on the error-compensated weights at each group start.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "dist/factor.h"
#include "quant/quantizer.h"

namespace slim {

// Fits the quantizer of one group: w is (rows, width) row-major, already
// error-compensated; u_diag (width) are the group's diagonal entries of the
// upper Cholesky factor U of H^-1 (the GPTQ denominators, used by salience-
// aware fitters such as SQC). Writes rows parameters.
using GroupFitter = std::function<void(const float* w, int64_t rows, int64_t width, int64_t ld,
                                       std::span<const double> u_diag, int bits, QuantParams* out)>;

struct GptqOptions {
  int bits = 4;
  int group_size = 128;          // -1: per row
  double damp = 0.01;            // relative: damp * mean(diag(H)) added to the diagonal
  int block_size = 128;          // lazy-update block width
  bool act_order = false;        // process columns by decreasing diag(H)
  bool static_groups = false;    // fit all group grids before any update (with act_order)
  std::vector<int> group_bits;   // optional per-group bit widths (mixed precision); empty: `bits` everywhere
  GroupFitter fitter;            // optional; default: plain min-max per row (fit_minmax)
  int max_damp_retries = 8;      // on Cholesky failure multiply damp by 10 and retry (damp 0 -> 0.01)
  // U = chol(H⁻¹, upper) by GPTQ's literal route (chol -> cholesky_inverse ->
  // chol) instead of the default reversed-Cholesky route: same matrix up to
  // rounding, twice the flops. For cross-checking only.
  bool reference_inverse = false;
};

// The inverse-Hessian factor GPTQ runs on: U = chol((H + λI)⁻¹, upper) of
// the (act-order permuted) Hessian, after the dead-column fix and the damp
// retries. All of it depends only on H and the options it records, so
// linears that share an input (q/k/v, gate/up) share it exactly: build it
// once, pass it to every gptq_quantize of that input. fp32 U (what the
// updates read) plus the fp64 diagonal (the GPTQ denominators).
// Rows per lazy-update GEMM of gptq_quantize (gptq.cc says why); row shares
// over ranks are whole chunks of it (gptq_ranks.h), so that they reproduce
// one process's result bit for bit.
constexpr int64_t kGptqRowChunk = 64;

struct GptqFactor {
  int64_t cols = 0;
  std::vector<float> u;         // (cols, cols) U in processing order, upper triangle (lower is 0)
  std::vector<double> u_diag;   // (cols) U diagonal in processing order
  std::vector<int64_t> perm;    // (cols) position -> original column (identity without act_order)
  std::vector<char> dead;       // (cols) by original column: diag(H) == 0 (weights get zeroed)
  double damp_used = 0;         // relative damp that finally worked
  int damp_retries = 0;
  int dead_columns = 0;
  double hessian_diag_mean = 0;  // mean of diag(H) as accumulated (2/n Σ x_c², dead columns as 0): the
                                 //  input's energy per channel, reported per layer; continuous in H, so
                                 //  runs whose sums differ by rounding can be compared on it
  // The options it was made with; gptq_quantize refuses a factor whose
  // options differ from its own.
  double damp = 0;
  bool act_order = false, reference_inverse = false;
  int max_damp_retries = 0;
  double seconds = 0;           // wall time of building it (for benchmarks)

  // U_cc by ORIGINAL column (the salience denominators).
  std::vector<double> u_diag_by_column() const;
};

// h: (cols, cols) Hessian 2/n ΣXᵀX (symmetric, fp64); uses opt.damp,
// act_order, max_damp_retries and reference_inverse. Throws slim::Error on a
// bad shape, non-finite h, or a Hessian that stays non-positive-definite.
GptqFactor gptq_factor(std::span<const double> h, int64_t cols, const GptqOptions& opt);

// How U is made from the damped, permuted Hessian `a` (one attempt of the
// damp-retry loop): fills `u` ((cols, cols) fp32, upper) and `u_diag`
// ((cols) fp64), or returns false when `a` is not positive definite.
// gptq_factor's own route is quant/linalg.h on this process; the dead
// columns, act-order permutation and retries around it are shared.
using FactorRoute =
    std::function<bool(const dist::DampedSymmetric& a, std::vector<float>& u, std::vector<double>& u_diag)>;
GptqFactor gptq_factor(std::span<const double> h, int64_t cols, const GptqOptions& opt, const FactorRoute& route);
// The same from this rank's slice of H (dist::SymmetricSlice, what a
// reduce-scatter leaves) and H's whole diagonal `h_diag` (cols): only for a
// route over ranks, which gathers the entries it needs.
GptqFactor gptq_factor(const dist::SymmetricSlice& slice, std::span<const double> h_diag, int64_t cols,
                       const GptqOptions& opt, const FactorRoute& route);
// gptq_factor(h, cols, opt) from H's whole packed upper triangle (`whole`:
// begin 0, cols (cols + 1) / 2 values, what HessianAccumulator::packed()
// gives) and its diagonal: the same factor, bit for bit, without a square
// fp64 copy of H beside the factorisation's own (0.97 GB at 11008 wide).
GptqFactor gptq_factor(const dist::SymmetricSlice& whole, std::span<const double> h_diag, int64_t cols,
                       const GptqOptions& opt);

struct GptqResult {
  std::vector<float> q;              // (rows, cols) dequantized weights, original column order
  std::vector<QuantParams> params;   // (rows, n_groups) in group order
  std::vector<int> group_bits;       // (n_groups) bits used per group
  std::vector<int> perm;             // act-order permutation (empty when not used): position -> original column
  std::vector<int> g_idx;            // (cols) group of each original column (GPTQ's g_idx; c / group_size
                                     //  unless act_order without static_groups)
  double loss = 0;                   // Σ (w - q)² / d² / 2 as GPTQ reports it
  double damp_used = 0;              // relative damp that finally worked
  int damp_retries = 0;
  int dead_columns = 0;              // columns with diag(H) == 0
  // Wall time by part (for benchmarks): building the factor (0 when one was
  // passed in), the group fits, everything else (column loop, lazy GEMMs).
  double seconds_factor = 0, seconds_fit = 0, seconds_loop = 0;
};

// w: (rows, cols) original weights; h: (cols, cols) Hessian 2/n ΣXᵀX (symmetric, fp64).
// Throws slim::Error on bad shapes/options, non-finite w or h, or a Hessian
// that stays non-positive-definite after max_damp_retries.
GptqResult gptq_quantize(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> h,
                         const GptqOptions& opt);
// The same with a prebuilt factor (bit-identical result). Throws when the
// factor's width or options differ from w's and opt's.
GptqResult gptq_quantize(std::span<const float> w, int64_t rows, int64_t cols, const GptqFactor& factor,
                         const GptqOptions& opt);

}  // namespace slim
