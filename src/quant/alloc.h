// Error-driven group bit allocation: an alternative to SBA's KL search
// (sba.h) that scores every (group, bit width) pair by an estimate of the
// quantization error GPTQ will leave, then picks the widths that minimise the
// summed estimate under an exact code-bit budget.
//
// Error estimates of group g at b bits (E = W_g − RTN_b(W_g), min-max RTN of
// the ORIGINAL weights, binary-with-mean at 1 bit):
//   obs      Σ_{r,c∈g} E_rc² / U_cc²   with U = chol(H⁻¹, upper): the OBS cost
//            of each column once GPTQ has compensated it on the later
//            columns (salience.h: salience is this with q = 0). Cost
//            rows·cols per width.
//   hessian  tr(E_g H_gg E_gᵀ), the layer-output error with the diagonal
//            block of H (no compensation). Cost rows·cols·gs per width.
// Both are in the same units for every linear (H = 2/n Σ xxᵀ), so they can be
// compared across linears when the budget is shared by the model.
//
// Allocation: widths in [N−1, N+max_up] (max_up 1 or 2: a 4-bit group at N = 2
// is paid by two 1-bit groups). Groups are pooled into "classes" whose groups
// cost the same code bits per step (rows·gs weights): one class per linear
// (scope "layer": every linear averages exactly N) or one class per distinct
// rows·gs over the model (scope "model": only the model total is exactly N).
// Inside a class the optimum for every net step count d is found greedily
// (lower convex hull of each group's curve, largest error decrease first,
// exact for convex curves); classes are then combined by an exact DP over
// Σ d_c·size_c = 0. A short last group never moves (as in sba.h).
#pragma once
#include "dist/factor.h"
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace slim {

enum class AllocCriterion { obs, hessian };
AllocCriterion parse_alloc_criterion(const std::string& s);  // "obs" | "hessian"; throws otherwise

// err(g, b) for one linear: err[g * n_bits + (b − bits_lo)], b in [bits_lo, bits_lo + n_bits).
struct GroupErrors {
  int64_t rows = 0, cols = 0;
  int group_size = 128;
  int bits_lo = 1, n_bits = 3;
  std::vector<double> err;   // (n_groups, n_bits)
  std::vector<bool> movable; // (n_groups) false for a short last group
  double at(int64_t g, int b) const { return err[size_t(g * n_bits + (b - bits_lo))]; }
};

// H's diagonal blocks, one per group of columns: all that group_errors
// reads. At 70B's 28672-wide input, g128: 28 MiB instead of the 6.1 GiB
// square that SBA's error criteria used to hold beside GPTQ's U.
struct HessianBlocks {
  int64_t cols = 0, gw = 0;    // width; group width (a short last group is narrower)
  std::vector<double> blocks;  // (n_groups, gw, gw) H_gg row-major, ld gw; a short last group's in the top-left
  const double* block(int64_t g) const { return blocks.data() + g * gw * gw; }
  double diagonal(int64_t c) const { return block(c / gw)[(c % gw) * (gw + 1)]; }
};
// From the whole (cols, cols) H, or from its packed upper triangle (a slice
// from 0: what HessianAccumulator::packed() gives; the same values).
HessianBlocks hessian_blocks(std::span<const double> h, int64_t cols, int group_size);
HessianBlocks hessian_blocks(const dist::SymmetricSlice& whole, int64_t cols, int group_size);

// w: (rows, cols) original weights; h: H's diagonal blocks (undamped) at
// this group size; u_diag: (cols) diagonal of chol(H⁻¹) (salience.h), read
// by `obs`. Dead columns (diag H = 0) count as zero error.
GroupErrors group_errors(std::span<const float> w, int64_t rows, int64_t cols, const HessianBlocks& h,
                         std::span<const double> u_diag, int group_size, int bits_lo, int bits_hi,
                         AllocCriterion crit);
// The same from the whole (cols, cols) H.
GroupErrors group_errors(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> h,
                         std::span<const double> u_diag, int group_size, int bits_lo, int bits_hi,
                         AllocCriterion crit);
// The same with the rows divided among the ranks (dist/comm.h), collective:
// rank r computes the terms of its share of the 64-row blocks, the terms are
// gathered and added in the one-rank order, so every rank gets exactly
// group_errors' table, byte for byte, whatever the number of ranks.
GroupErrors group_errors_over_ranks(std::span<const float> w, int64_t rows, int64_t cols, const HessianBlocks& h,
                                    std::span<const double> u_diag, int group_size, int bits_lo, int bits_hi,
                                    AllocCriterion crit);

// tr(W H Wᵀ) = Σ_r w_r H w_rᵀ: the linear's output energy on the calibration
// data (H = 2/n Σ xxᵀ), the scale that makes errors of different linears
// comparable as relative output errors. w: (rows, cols), h: (cols, cols).
double output_energy(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> h);

struct AllocOptions {
  int bits = 2;         // N
  int max_up = 1;       // highest width N + max_up (1 or 2)
  bool model_scope = false;
};

// Bits per group for every linear (same order as `layers`). Σ over moved
// groups of rows·width·(b − N) is exactly 0 per linear (layer scope) or over
// the model (model scope). Throws slim::Error when the layers' error tables do
// not cover N−1..N+max_up, or when no exact allocation exists (cannot happen:
// all-N is always feasible).
std::vector<std::vector<int>> allocate_group_bits(std::span<const GroupErrors> layers, const AllocOptions& opt);

}  // namespace slim
