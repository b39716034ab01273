// Scalar side of the int8 prefill GEMM: activation quantization, the code
// blocks, the coefficients and the reference product (int8_gemm.h).
#include "pack/int8_gemm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/half.h"

namespace slim::pack_detail {

bool gemm_int8_bits_fit(const PackedLinear& L) { return L.max_bits() <= 4; }

void quantize_gemm_acts(const PackedLinear& L, const float* x, int8_t* xq, float* sx, float* ssx) {
  const int64_t G = L.n_groups();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  for (int64_t g = 0; g < G; ++g) {
    const int64_t c0 = gcol[size_t(g)], w = gcol[size_t(g + 1)] - c0;
    const int64_t p0 = pcol[size_t(g)], pw = pcol[size_t(g + 1)] - p0;
    float m = 0.f;
    for (int64_t i = 0; i < w; ++i) m = std::max(m, std::fabs(x[c0 + i]));
    // NaN never wins std::max against m; a NaN anywhere makes the scale NaN.
    for (int64_t i = 0; i < w; ++i)
      if (std::isnan(x[c0 + i])) m = x[c0 + i];
    const float inv = m > 0.f && std::isfinite(m) ? 127.f / m : 0.f;
    int32_t s = 0;
    for (int64_t i = 0; i < w; ++i) {
      // inv 0 (zeros, NaN or inf in the group): every q 0 (NaN * 0 has no integer).
      const int8_t q = inv == 0.f ? int8_t(0) : int8_t(std::clamp(std::nearbyint(x[c0 + i] * inv), -127.f, 127.f));
      xq[p0 + i] = q;
      s += q;
    }
    std::fill(xq + p0 + w, xq + p0 + pw, int8_t(0));
    sx[g] = m / 127.f;
    ssx[g] = sx[g] * float(s);
  }
}

void gemm_coefs(const PackedLinear& L, int64_t r, float* a, float* b, int64_t stride) {
  const PackedParts& P = L.parts();
  const int64_t G = L.n_groups(), n1 = L.n_onebit();
  const auto zero = L.zero_points();
  const auto onecol = L.onebit_column();
  for (int64_t g = 0; g < G; ++g) {
    const float scale = f16_to_f32(P.scales[size_t(r * G + g)]);
    if (L.bits(g) == 1) {
      a[g * stride] = 2.f * scale;
      b[g * stride] = f16_to_f32(P.offsets[size_t(r * n1 + onecol[size_t(g)])]) - scale;
    } else {
      a[g * stride] = scale;
      b[g * stride] = -scale * float(zero[size_t(r * G + g)]);
    }
  }
}

void build_gemm_block(const PackedLinear& L, int64_t r0, uint8_t* out, float* a, float* b) {
  const int64_t G = L.n_groups(), R = L.rows();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto goff = L.group_offsets();
  std::fill(out, out + 8 * pcol[size_t(G)], uint8_t(0));
  for (int64_t i = 0; i < kGemmRows; ++i) {
    const int64_t r = r0 + i;
    if (r >= R) {
      for (int64_t g = 0; g < G; ++g) a[g * kGemmRows + i] = b[g * kGemmRows + i] = 0.f;
      continue;
    }
    gemm_coefs(L, r, a + i, b + i, kGemmRows);
    for (int64_t g = 0; g < G; ++g) {
      const int bits = L.bits(g);
      const int64_t width = gcol[size_t(g + 1)] - gcol[size_t(g)], pb = plane_bytes(width);
      const uint8_t* planes = L.parts().codes.data() + r * L.row_bytes() + goff[size_t(g)];  // (bits, pb)
      for (int64_t c = 0; c < width; ++c) {
        const int64_t pc = pcol[size_t(g)] + c;  // padded column
        out[32 * (pc / 4) + 4 * i + pc % 4] = uint8_t(plane_code(planes, pb, bits, c));
      }
    }
  }
}

void matmul_reference_gemm_int8(const PackedLinear& L, const float* x, float* y, int64_t T) {
  const int64_t R = L.rows(), C = L.cols(), G = L.n_groups();
  const auto pcol = L.padded_columns();
  const int64_t kp = pcol[size_t(G)];
  std::vector<int8_t> xq(static_cast<size_t>(kp));
  std::vector<float> sx(static_cast<size_t>(G)), ssx(static_cast<size_t>(G));
  std::vector<uint8_t> block(static_cast<size_t>(8 * kp));
  std::vector<float> a(static_cast<size_t>(G * kGemmRows)), b(a.size());
  for (int64_t r0 = 0; r0 < R; r0 += kGemmRows) {
    build_gemm_block(L, r0, block.data(), a.data(), b.data());
    for (int64_t t = 0; t < T; ++t) {
      quantize_gemm_acts(L, x + t * C, xq.data(), sx.data(), ssx.data());
      for (int64_t i = 0; i < kGemmRows && r0 + i < R; ++i) {
        float acc = 0.f;
        for (int64_t g = 0; g < G; ++g) {
          int32_t s = 0;
          for (int64_t pc = pcol[size_t(g)]; pc < pcol[size_t(g + 1)]; ++pc)
            s += int32_t(block[size_t(32 * (pc / 4) + 4 * i + pc % 4)]) * int32_t(xq[size_t(pc)]);
          acc = std::fma(a[size_t(g * kGemmRows + i)], float(s) * sx[size_t(g)], acc);
          acc = std::fma(b[size_t(g * kGemmRows + i)], ssx[size_t(g)], acc);
        }
        y[t * R + r0 + i] = acc;
      }
    }
  }
}

}  // namespace slim::pack_detail
