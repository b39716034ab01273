// GPTQ's inverse-Hessian factor computed by all ranks together (issue 15):
// U upper with Uᵀ U = A⁻¹, the same matrix as quant/linalg.h's
// inverse_cholesky_upper (reversal P, Cholesky of P A P, triangular inverse,
// P again), as ScaLAPACK pdpotrf + pdtrtri on a block-cyclic grid of the
// ranks. It exists for the widest sites (LLaMA-2's 11008- and 28672-wide
// down_proj inputs), whose ~n³/3 flops one rank would otherwise spend alone
// while the others wait.
//
// The Hessian comes either whole on every rank (each fills its own
// block-cyclic pieces in place) or, as the pipeline reduces it, as each
// rank's slice of the packed upper triangle: then every entry is sent to the
// rank whose piece needs it, about 1/N of the triangle per rank instead of
// the whole of it that a reduction to every rank delivers. The result is allgathered (each rank's upper-triangle entries, fp32) so every
// rank ends with the whole U. Which implementation is linked is chosen once,
// by the build (factor_scalapack.cc or factor_none.cc).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace slim::dist {

// Index of (i, j), i <= j, in the upper triangle of an (n, n) matrix packed
// row by row: row i starts after the n + (n-1) + ... + (n-i+1) entries above.
inline int64_t packed_upper_index(int64_t n, int64_t i, int64_t j) { return i * n - i * (i - 1) / 2 + (j - i); }

// This rank's share (share_of over n(n+1)/2 entries) of H's packed upper
// triangle: H[i][j] = scale * packed[packed_upper_index(n, i, j) - begin].
struct SymmetricSlice {
  std::span<const double> packed;
  int64_t begin = 0;
  double scale = 1;
};

// The matrix to factor, read in place: A[i][j] = h[perm[i]][perm[j]] off the
// diagonal, diag[perm[i]] + lambda on it (GPTQ's damped, act-order permuted
// Hessian, with the dead-column fix in `diag`). With `h` empty, the
// off-diagonal entries come from every rank's `slice` instead (the route over
// ranks only).
struct DampedSymmetric {
  int64_t n = 0;
  std::span<const double> h;       // (n, n) row-major, symmetric; or empty
  std::span<const int64_t> perm;   // (n) position -> row/column of h
  std::span<const double> diag;    // (n) by row of h: the diagonal before lambda
  double lambda = 0;
  SymmetricSlice slice;            // when h is empty
  bool sliced() const { return h.empty(); }
  double at(int64_t i, int64_t j) const {
    return i == j ? diag[size_t(perm[size_t(i)])] + lambda : h[size_t(perm[size_t(i)] * n + perm[size_t(j)])];
  }
};

// True when the build has ScaLAPACK (and MPI): the route below works.
bool factor_over_ranks_available();

// Collective: every rank calls it with the same matrix. `block` is the
// block-cyclic block size. On success `u` is (n, n) row-major fp32 with U in
// the upper triangle (lower 0) and `u_diag` U's diagonal in fp64, the same
// on every rank. Returns false on every rank when A is not positive definite
// (pdpotrf's info, or a non-positive / non-finite pivot on any rank), so the
// callers retry together. Throws slim::Error when ScaLAPACK is not built in.
bool inverse_cholesky_upper_over_ranks(const DampedSymmetric& a, int block, std::vector<float>& u,
                                       std::vector<double>& u_diag);

}  // namespace slim::dist
