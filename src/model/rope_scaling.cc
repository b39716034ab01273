#include "model/rope_scaling.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace slim {

namespace {

constexpr double kTwoPi = 2 * std::numbers::pi;

std::vector<double> plain_inv_freq(double theta, int head_dim) {
  std::vector<double> f(size_t(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i) f[size_t(i)] = std::pow(theta, -2.0 * i / head_dim);
  return f;
}

// LLaMA-3.1: wavelengths longer than the original context / low_freq_factor
// are interpolated by `factor`, shorter than context / high_freq_factor kept,
// and the band between blended linearly in context / wavelength.
void llama3(std::vector<double>& f, const RopeScaling& s, int original_max) {
  const double lo_wavelen = original_max / s.low_freq_factor, hi_wavelen = original_max / s.high_freq_factor;
  for (double& v : f) {
    const double wavelen = kTwoPi / v;
    if (wavelen < hi_wavelen) continue;
    if (wavelen > lo_wavelen) {
      v /= s.factor;
      continue;
    }
    const double smooth = (original_max / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    v = (1 - smooth) * v / s.factor + smooth * v;
  }
}

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// YaRN ("NTK-by-parts"): pairs that rotate fewer than beta_slow times over the
// original context are interpolated, more than beta_fast times extrapolated
// (kept), a linear ramp between; cos/sin are scaled by the attention factor.
double yarn(std::vector<double>& f, double theta, int head_dim, const RopeScaling& s, int original_max) {
  auto correction_dim = [&](double rotations) {
    return head_dim * std::log(original_max / (rotations * kTwoPi)) / (2 * std::log(theta));
  };
  double lo = correction_dim(s.beta_fast), hi = correction_dim(s.beta_slow);
  if (s.truncate) {
    lo = std::floor(lo);
    hi = std::ceil(hi);
  }
  lo = std::max(lo, 0.0);
  hi = std::min(hi, double(head_dim - 1));
  if (lo == hi) hi += 0.001;  // avoids a division by zero in the ramp
  for (size_t i = 0; i < f.size(); ++i) {
    const double ramp = std::clamp((double(i) - lo) / (hi - lo), 0.0, 1.0);
    const double extrapolation = 1 - ramp;  // 1: keep the original frequency
    f[i] = f[i] / s.factor * (1 - extrapolation) + f[i] * extrapolation;
  }
  if (s.attention_factor > 0) return s.attention_factor;
  if (s.mscale > 0 && s.mscale_all_dim > 0)
    return yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim);
  return yarn_mscale(s.factor, 1);
}

}  // namespace

RopeFrequencies rope_frequencies(double theta, int head_dim, const RopeScaling& s, int max_pos_embeddings,
                                 int seq_len) {
  RopeFrequencies r;
  const int original_max = s.original_max_pos > 0 ? s.original_max_pos : max_pos_embeddings;
  switch (s.type) {
    case RopeScalingType::None:
      r.inv_freq = plain_inv_freq(theta, head_dim);
      break;
    case RopeScalingType::Linear:
      r.inv_freq = plain_inv_freq(theta, head_dim);
      for (double& v : r.inv_freq) v /= s.factor;
      break;
    case RopeScalingType::Dynamic: {
      // NTK-aware: the base grows with the sequence once it passes the trained context.
      double base = theta;
      if (seq_len > original_max)
        base *= std::pow(s.factor * seq_len / original_max - (s.factor - 1), double(head_dim) / (head_dim - 2));
      r.inv_freq = plain_inv_freq(base, head_dim);
      break;
    }
    case RopeScalingType::Llama3:
      r.inv_freq = plain_inv_freq(theta, head_dim);
      llama3(r.inv_freq, s, original_max);
      break;
    case RopeScalingType::Yarn:
      r.inv_freq = plain_inv_freq(theta, head_dim);
      r.attention_scale = yarn(r.inv_freq, theta, head_dim, s, original_max);
      break;
  }
  return r;
}

const char* rope_scaling_name(RopeScalingType t) {
  switch (t) {
    case RopeScalingType::None: return "none";
    case RopeScalingType::Linear: return "linear";
    case RopeScalingType::Dynamic: return "dynamic";
    case RopeScalingType::Llama3: return "llama3";
    case RopeScalingType::Yarn: return "yarn";
  }
  return "?";
}

}  // namespace slim
