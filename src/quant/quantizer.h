// Weight quantizers for one (row, group) segment, GPTQ convention: groups run
// along the input dimension of a (out, in) weight; each row of a group has
// its own parameters.
//
//   bits 2..8: asymmetric min-max with the range forced to contain 0 and an
//              integer zero point: scale = (max-min)/(2^b-1), zero = round(-min/scale),
//              q = clamp(round(w/scale) + zero, 0, 2^b-1), w' = scale*(q - zero).
//              An all-zero segment gets the range [-1, 1] (as GPTQ's quantizer).
//   bits 1:    binary with mean: zero = mean(w), scale = mean(|w|),
//              w' = ±scale + zero, + when w >= zero. The reference uses
//              torch.sign, whose sign(0) = 0 gives a third value `zero` that a
//              1-bit code cannot store; weights exactly at the mean are rare but
//              real (bf16 weights and an fp16 mean coincide), so they take +.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace slim {

struct QuantParams {
  float scale = 1.f;
  float zero = 0.f;  // integer-valued for bits >= 2; the mean for 1-bit
};

// The min-max range of a segment, forced to contain 0 (so zero is exactly
// representable); an all-zero segment gets [-1, 1], as GPTQ's quantizer.
struct QuantRange {
  float lo, hi;
};
QuantRange zero_containing_range(std::span<const float> w);

// Parameters as the packed format stores them: scale (and the 1-bit mean) as
// fp16, the scale kept in [2^-24, 65504] so it stays positive and finite. Every
// fitter returns storable parameters, so the fake-quantized model is exactly
// the model the packed file holds.
float f16_scale(float scale);
float f16_value(float v);

// Plain min-max fit of one segment (the reference quantizer, "_ref").
// Throws slim::Error for bits outside 1..8 or an empty segment.
QuantParams fit_minmax(std::span<const float> w, int bits);
// Dequantized value of w under p. Inline because GPTQ calls it once per
// weight inside its per-row column loop. fp32 throughout and a true division
// (not a reciprocal multiply) so the codes match torch's quantize() exactly;
// nearbyint rounds half to even under the default rounding mode, as torch.round.
inline float fake_quant(float w, const QuantParams& p, int bits) {
  if (bits == 1) return (w >= p.zero ? p.scale : -p.scale) + p.zero;
  const float maxq = float((1 << bits) - 1);
  const float q = std::clamp(std::nearbyint(w / p.scale) + p.zero, 0.f, maxq);
  return p.scale * (q - p.zero);
}
// Integer code in [0, 2^b-1] (bits >= 2), or {0,1} (1-bit: 1 when w >= zero).
int quant_code(float w, const QuantParams& p, int bits);

// Round-to-nearest of a whole (rows, cols) weight with groups of `group_size`
// columns (-1: one group per row; a last partial group when it does not divide).
// q receives the dequantized weights (rows, cols); params (rows, n_groups).
// Throws slim::Error for bits outside 1..8 or non-finite weights.
void rtn_quantize(const float* w, int64_t rows, int64_t cols, int bits, int group_size, float* q,
                  std::vector<QuantParams>* params = nullptr);

inline int64_t n_groups(int64_t cols, int group_size) {
  return group_size <= 0 ? 1 : (cols + group_size - 1) / group_size;
}
inline int64_t group_width(int64_t cols, int group_size) { return group_size <= 0 ? cols : group_size; }

}  // namespace slim
