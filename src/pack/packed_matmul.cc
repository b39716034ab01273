// PackedLinear's products: dequantize_rows() and matmul(). Step 1: the scalar
// path (a dequantized row at a time); the SIMD kernels replace it.
#include <vector>

#include "pack/packed_linear.h"
#include "util/error.h"

namespace slim {

void PackedLinear::dequantize_rows(int64_t r0, int64_t r1, float* out, int64_t ldo) const {
  dequantize_rows_reference(r0, r1, out, ldo);
}

void PackedLinear::matmul(const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) const {
  if (ldx <= 0) ldx = cols();
  if (ldy <= 0) ldy = rows();
  SLIM_CHECK(T >= 0 && ldx >= cols() && ldy >= rows(), "matmul: T {} ldx {} ldy {} for a {}x{} linear", T, ldx, ldy,
             rows(), cols());
  std::vector<float> w(static_cast<size_t>(cols()));  // (cols) one dequantized row
  for (int64_t r = 0; r < rows(); ++r) {
    dequantize_rows_reference(r, r + 1, w.data(), cols());
    for (int64_t t = 0; t < T; ++t) {
      float s = 0;
      for (int64_t c = 0; c < cols(); ++c) s += w[size_t(c)] * x[t * ldx + c];
      y[t * ldy + r] = s;
    }
  }
}

}  // namespace slim
