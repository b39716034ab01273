// Weight salience of SliM-LLM (spec §2.1, §2.3): element salience
//   s[r, c] = w[r, c]² / U[c, c]²
// with U the upper Cholesky factor of the damped H⁻¹, i.e. the GPTQ
// denominator d of column c. U_cc² = [(H_F)⁻¹]_cc with F = {c, …, C−1}, so s
// is the OBS error of quantizing w to 0 in GPTQ's column order. Group
// salience is the plain sum over all rows and the group's columns; SBA ranks
// groups by it.
//
// Only the diagonal of U is needed: with P the reversal permutation,
// P H P = L Lᵀ gives U = P L⁻¹ P, so U_cc = 1 / L_kk with k = C−1−c. One
// Cholesky (n³/3 flops) instead of GPTQ's Cholesky + triangular inverse, and
// bit-identical to the diagonal GPTQ divides by (LAPACK's trtri writes 1/L_kk).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "quant/gptq.h"

namespace slim {

struct SalienceOptions {
  double damp = 0.01;   // relative: damp * mean(diag H) added to the diagonal, as gptq_quantize
  int group_size = 128; // -1: one group per row
  // Reproduce the reference's get_salience (spec §2.1): an ABSOLUTE +0.01 on
  // the diagonal (`damp` is ignored) and the weights used as they are (dead
  // columns are not zeroed). The reference uses this ranking during the SBA
  // search only; its final bit assignment re-ranks with the default variant
  // (relative damp, dead columns zeroed) — see sba.h.
  bool faithful = false;
  int max_damp_retries = 8;  // Cholesky failure: damp x10 (0 -> 0.01), as gptq_quantize
};

struct SalienceResult {
  std::vector<double> group;   // (n_groups) Σ_{r, c in g} w² / U_cc²
  std::vector<double> u_diag;  // (cols) U_cc, original column order (no act-order)
  double damp_used = 0;        // relative damp (absolute in faithful mode) that finally worked
  int damp_retries = 0;
  int dead_columns = 0;        // columns with diag(H) == 0: H_cc := 1; weight zeroed unless faithful
};

// w: (rows, cols) original weights; h: (cols, cols) Hessian 2/n ΣXᵀX (fp64,
// symmetric). Throws slim::Error on bad shapes, non-finite input, or a
// Hessian that stays non-positive-definite after the retries.
SalienceResult compute_salience(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> h,
                                const SalienceOptions& opt = {});

// The default (non-faithful) salience from GPTQ's inverse-Hessian factor of
// the same H and relative damp: U_cc is its diagonal, bit-identical to the
// Cholesky above (potrf of the same P (H + λI) P, and trtri's diagonal is
// 1/L_kk), so this equals compute_salience(w, …, h, {factor.damp, group_size})
// at no O(cols³) cost. Throws for an act-order factor (its columns are permuted).
SalienceResult salience_from_factor(std::span<const float> w, int64_t rows, int64_t cols, const GptqFactor& factor,
                                    int group_size);

// Group sums of w²/u² for a given U diagonal (cols); exposed for callers that
// already have U (e.g. from a GPTQ run) and for tests.
std::vector<double> group_salience(std::span<const float> w, int64_t rows, int64_t cols,
                                   std::span<const double> u_diag, int group_size);

}  // namespace slim
