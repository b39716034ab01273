// fp64 dense helpers for GPTQ's inverse Hessian, on LAPACK (OpenBLAS).
// All matrices are n x n, row-major, symmetric inputs; every function works
// in place and returns false (never throws) when the matrix is not positive
// definite, so the caller can retry with more damping.
//
// Layout note: a row-major buffer read as column-major is the transpose, so a
// row-major lower factor is LAPACK's column-major 'U' and vice versa.
#pragma once
#include <cstdint>

namespace slim {

// A = L Lᵀ: on success the lower triangle holds L, the strict upper is zeroed.
bool cholesky_lower(double* a, int64_t n);
// A = Uᵀ U: on success the upper triangle holds U, the strict lower is zeroed.
bool cholesky_upper(double* a, int64_t n);
// Given L from cholesky_lower, overwrites it with the full symmetric A⁻¹
// (torch.cholesky_inverse: LAPACK potri, then the other triangle mirrored).
bool cholesky_inverse(double* l, int64_t n);

// U upper with Uᵀ U = A⁻¹, the matrix GPTQ runs on. Same result as
// inverse_cholesky_upper_reference up to rounding, at half the flops
// (2n³/3 instead of 4n³/3) and without ever forming A⁻¹:
//   with P the reversal permutation, P A P = L Lᵀ gives A = V Vᵀ for the
//   upper V = P L P, so A⁻¹ = V⁻ᵀ V⁻¹ and U = V⁻¹ = P L⁻¹ P (the Cholesky
//   factor is unique, so this is exactly chol(A⁻¹, upper)).
// Reversing P·P of a row-major matrix is reversing its flat array.
bool inverse_cholesky_upper(double* a, int64_t n);
// GPTQ's literal route: chol(A) -> cholesky_inverse -> chol(., upper).
bool inverse_cholesky_upper_reference(double* a, int64_t n);

}  // namespace slim
