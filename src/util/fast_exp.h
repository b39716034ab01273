// exp(y) in fp32 written so the compiler vectorises it (no libm call):
// Cephes' expf — range reduction by n·ln2 with ln2 split in two, degree-6
// polynomial, ~1 ulp. Valid for |y| <= ~87 (2^n must stay a normal float);
// callers clamp their argument first. Used in the SBA KL search (softmax of
// logits minus their max) and SQC's |e|^2.4.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace slim {

inline float fast_exp(float y) {
  // round(y·log2 e) by the 1.5·2^23 trick (exact under round-to-nearest, |n| < 2^22).
  const float magic = 12582912.f;
  const float n = (y * 1.44269504088896341f + magic) - magic;
  float r = std::fma(n, -0.693359375f, y);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  const float v = std::fma(p * r, r, r) + 1.f;
  // A NaN or infinite y makes n NaN/inf, and converting that to int is
  // undefined (found by fuzz_packed_model: a model with a NaN weight reached
  // decode attention's softmax). Clamping n keeps the conversion defined and
  // changes no valid input (|n| <= 126 there); v is already NaN for such y,
  // so the NaN still reaches the caller, which reports non-finite output.
  // std::max(-126, n) is -126 for a NaN n and compiles to one maxss/maxps
  // (std::fmax needs extra NaN handling on x86).
  const float nc = std::min(127.f, std::max(-126.f, n));
  return v * std::bit_cast<float>((int32_t(nc) + 127) << 23);  // · 2^n
}

}  // namespace slim
