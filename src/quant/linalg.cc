#include "quant/linalg.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>

namespace slim {

namespace {

// Zero the strict upper (upper=true) or strict lower triangle of a row-major matrix.
void zero_triangle(double* a, int64_t n, bool upper) {
#pragma omp parallel for schedule(static) if (n > 512)
  for (int64_t i = 0; i < n; ++i) {
    double* r = a + i * n;
    if (upper) std::fill(r + i + 1, r + n, 0.0);
    else std::fill(r, r + i, 0.0);
  }
}

// Cholesky factors with a non-positive or non-finite pivot are failures even
// when LAPACK returns 0 (a NaN pivot passes its `<= 0` test).
bool diag_ok(const double* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double d = a[i * n + i];
    if (!(d > 0.0) || !std::isfinite(d)) return false;
  }
  return true;
}

// LAPACKE's optional NaN scan is O(n²); callers already refuse non-finite
// input, and a NaN factor is caught by diag_ok.
lapack_int potrf_colmajor(char uplo, double* a, int64_t n) {
  return LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, uplo, lapack_int(n), a, lapack_int(n));
}

// P A P for the reversal P: reversing the flat row-major array. Parallel
// because at n = 11008 it is ~1 GB of traffic.
void reverse_flat(double* a, int64_t nn) {
  const int64_t half = nn / 2;
#pragma omp parallel for schedule(static) if (nn > (1 << 20))
  for (int64_t i = 0; i < half; ++i) std::swap(a[i], a[nn - 1 - i]);
}

}  // namespace

bool cholesky_lower(double* a, int64_t n) {
  if (potrf_colmajor('U', a, n) != 0 || !diag_ok(a, n)) return false;  // col-major 'U' == row-major lower
  zero_triangle(a, n, /*upper=*/true);
  return true;
}

bool cholesky_upper(double* a, int64_t n) {
  if (potrf_colmajor('L', a, n) != 0 || !diag_ok(a, n)) return false;  // col-major 'L' == row-major upper
  zero_triangle(a, n, /*upper=*/false);
  return true;
}

bool cholesky_inverse(double* l, int64_t n) {
  if (LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'U', lapack_int(n), l, lapack_int(n)) != 0) return false;
  // potri filled the row-major lower triangle; mirror it to the upper one.
#pragma omp parallel for schedule(static) if (n > 512)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) l[i * n + j] = l[j * n + i];
  return true;
}

bool inverse_cholesky_upper_reference(double* a, int64_t n) {
  return cholesky_lower(a, n) && cholesky_inverse(a, n) && cholesky_upper(a, n);
}

bool inverse_cholesky_upper(double* a, int64_t n) {
  const int64_t nn = n * n;
  reverse_flat(a, nn);  // P A P
  if (potrf_colmajor('U', a, n) != 0 || !diag_ok(a, n)) return false;  // row-major lower L
  // L⁻¹ in place (row-major lower == col-major upper).
  if (LAPACKE_dtrtri_work(LAPACK_COL_MAJOR, 'U', 'N', lapack_int(n), a, lapack_int(n)) != 0) return false;
  reverse_flat(a, nn);  // U = P L⁻¹ P, upper
  zero_triangle(a, n, /*upper=*/false);
  return diag_ok(a, n);
}

}  // namespace slim
