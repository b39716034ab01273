// Reference (min-max) quantizer and round-to-nearest, following GPTQ's
// quant.py (asymmetric, per channel, weight=True) and SliM-LLM's binary
// branch. All arithmetic that decides a code is fp32, as in the reference,
// so codes match torch bit for bit on the same inputs.
#include "quant/quantizer.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/half.h"

namespace slim {

namespace {

void check_bits(int bits) { SLIM_CHECK(bits >= 1 && bits <= 8, "quantizer: bits must be in 1..8, got {}", bits); }

}  // namespace

QuantRange zero_containing_range(std::span<const float> w) {
  float xmin = 0.f, xmax = 0.f;
  for (float x : w) {
    xmin = std::min(xmin, x);
    xmax = std::max(xmax, x);
  }
  if (xmin == 0.f && xmax == 0.f) return {-1.f, 1.f};
  return {xmin, xmax};
}

float f16_value(float v) { return f16_to_f32(f32_to_f16(v)); }

float f16_scale(float scale) {
  // 2^-24 is the smallest fp16 subnormal; 65504 the largest finite fp16.
  return f16_value(std::clamp(scale, 5.9604645e-8f, 65504.f));
}

QuantParams fit_minmax(std::span<const float> w, int bits) {
  check_bits(bits);
  SLIM_CHECK(!w.empty(), "quantizer: cannot fit an empty segment");
  QuantParams p;
  if (bits == 1) {
    // Binary with mean: sums in double so long groups do not drift, then
    // rounded to fp32 once (torch keeps fp32, the difference is < 1 ulp).
    double s = 0, sa = 0;
    for (float x : w) {
      s += x;
      sa += std::fabs(x);
    }
    p.zero = f16_value(float(s / double(w.size())));
    // A constant segment is exact at w' = mean: scale 0 (the reference's
    // mean|w| would move it to mean ± scale, since a 1-bit code has no third value).
    if (std::all_of(w.begin(), w.end(), [&](float x) { return x == w[0]; })) {
      p.scale = 0.f;
      return p;
    }
    p.scale = f16_value(float(sa / double(w.size())));  // 0 is valid here: w' = mean
    return p;
  }
  const auto [xmin, xmax] = zero_containing_range(w);
  const float maxq = float((1 << bits) - 1);
  p.scale = f16_scale((xmax - xmin) / maxq);
  p.zero = std::clamp(std::nearbyint(-xmin / p.scale), 0.f, maxq);
  return p;
}

int quant_code(float w, const QuantParams& p, int bits) {
  if (bits == 1) return w >= p.zero ? 1 : 0;
  const float maxq = float((1 << bits) - 1);
  return int(std::clamp(std::nearbyint(w / p.scale) + p.zero, 0.f, maxq));
}

void rtn_quantize(const float* w, int64_t rows, int64_t cols, int bits, int group_size, float* q,
                  std::vector<QuantParams>* params) {
  check_bits(bits);
  SLIM_CHECK(rows > 0 && cols > 0, "rtn_quantize: empty weight ({}x{})", rows, cols);
  // Refuse NaN/Inf up front: min/max silently drop NaN and would hide a broken
  // checkpoint behind plausible-looking codes.
  const int64_t n = rows * cols;
  int64_t bad = -1;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(w[i])) {
      bad = i;
      break;
    }
  SLIM_CHECK(bad < 0, "rtn_quantize: non-finite weight {} at row {}, col {}", w[bad], bad / cols, bad % cols);

  const int64_t G = n_groups(cols, group_size), gw = group_width(cols, group_size);
  if (params) params->assign(size_t(rows * G), QuantParams{});
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const float* wr = w + r * cols;  // (cols)
    float* qr = q + r * cols;        // (cols)
    for (int64_t g = 0; g < G; ++g) {
      const int64_t c0 = g * gw, c1 = std::min(cols, c0 + gw);  // last group may be partial
      const QuantParams p = fit_minmax({wr + c0, size_t(c1 - c0)}, bits);
      for (int64_t c = c0; c < c1; ++c) qr[c] = fake_quant(wr[c], p, bits);
      if (params) (*params)[size_t(r * G + g)] = p;
    }
  }
}

}  // namespace slim
