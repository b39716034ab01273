#include "quant/lwc.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace slim {

namespace {
float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }
float logit_clamped(double p) {
  p = std::clamp(p, 1e-4, 1.0 - 1e-4);
  return float(std::log(p / (1.0 - p)));
}
constexpr float kMinScale = 1e-5f, kMaxScale = 1e4f;
}  // namespace

LwcLinear::LwcLinear(const float* w, int64_t rows, int64_t cols, int group_size, std::vector<int> group_bits,
                     float init)
    : w_(w), rows_(rows), cols_(cols), width_(group_width(cols, group_size)), groups_(n_groups(cols, group_size)),
      bits_(std::move(group_bits)) {
  SLIM_CHECK(int64_t(bits_.size()) == groups_, "LWC: {} group widths for {} groups", bits_.size(), groups_);
  for (int b : bits_) SLIM_CHECK(b >= 1 && b <= 8, "LWC: group bit width {} outside 1..8", b);
  const size_t n = size_t(rows_ * groups_);
  gamma_.assign(n, init);
  beta_.assign(n, init);
  lo_raw_.resize(n);
  hi_raw_.resize(n);
  params_.resize(n);
  scale_clamped_.assign(n, 0);
  for (int64_t r = 0; r < rows_; ++r)
    for (int64_t g = 0; g < groups_; ++g) {
      const float* seg = w_ + r * cols_ + g * width_;
      const int64_t len = std::min(width_, cols_ - g * width_);
      const size_t i = size_t(r * groups_ + g);
      if (bits_[size_t(g)] == 1) {
        double s = 0;
        for (int64_t c = 0; c < len; ++c) s += seg[c];
        const float mean = f16_value(float(s / double(len)));
        double sa = 0;
        for (int64_t c = 0; c < len; ++c) sa += std::fabs(double(seg[c]) - mean);
        lo_raw_[i] = mean;
        hi_raw_[i] = float(sa / double(len));
      } else {
        float mn = seg[0], mx = seg[0];
        for (int64_t c = 1; c < len; ++c) mn = std::min(mn, seg[c]), mx = std::max(mx, seg[c]);
        lo_raw_[i] = mn;
        hi_raw_[i] = mx;
      }
    }
}

void LwcLinear::init_from_params(std::span<const QuantParams> p) {
  SLIM_CHECK(int64_t(p.size()) == rows_ * groups_, "LWC init: {} parameters for {} (row, group) pairs", p.size(),
             rows_ * groups_);
  for (int64_t r = 0; r < rows_; ++r)
    for (int64_t g = 0; g < groups_; ++g) {
      const size_t i = size_t(r * groups_ + g);
      const int b = bits_[size_t(g)];
      if (b == 1) {
        if (hi_raw_[i] > 0) gamma_[i] = logit_clamped(double(p[i].scale) / hi_raw_[i] - 0.5);
        continue;
      }
      const double maxq = double((1 << b) - 1);
      const double lo = -double(p[i].zero) * p[i].scale, hi = (maxq - p[i].zero) * p[i].scale;
      if (hi_raw_[i] > 0) gamma_[i] = logit_clamped(hi / hi_raw_[i]);
      if (lo_raw_[i] < 0) beta_[i] = logit_clamped(lo / lo_raw_[i]);
    }
}

void LwcLinear::forward(float* wq) {
#pragma omp parallel for schedule(static) if (rows_ * cols_ > 65536)
  for (int64_t r = 0; r < rows_; ++r)
    for (int64_t g = 0; g < groups_; ++g) {
      const size_t i = size_t(r * groups_ + g);
      const int b = bits_[size_t(g)];
      QuantParams& p = params_[i];
      if (b == 1) {
        p.zero = lo_raw_[i];
        p.scale = f16_value(hi_raw_[i] * (sigmoid(gamma_[i]) + 0.5f));
        scale_clamped_[i] = 0;
      } else {
        const float maxq = float((1 << b) - 1);
        const float hi = sigmoid(gamma_[i]) * hi_raw_[i], lo = sigmoid(beta_[i]) * lo_raw_[i];
        const float s = (hi - lo) / maxq;
        scale_clamped_[i] = s < kMinScale || s > kMaxScale;
        p.scale = f16_scale(std::clamp(s, kMinScale, kMaxScale));
        p.zero = std::clamp(std::nearbyint(std::clamp(-lo / p.scale, -1e4f, 1e4f)), 0.f, maxq);
      }
      const int64_t c0 = g * width_, c1 = std::min(cols_, c0 + width_);
      for (int64_t c = c0; c < c1; ++c) wq[r * cols_ + c] = fake_quant(w_[r * cols_ + c], p, b);
    }
}

void LwcLinear::backward(const float* dwq, float* dgamma, float* dbeta) const {
#pragma omp parallel for schedule(static) if (rows_ * cols_ > 65536)
  for (int64_t r = 0; r < rows_; ++r)
    for (int64_t g = 0; g < groups_; ++g) {
      const size_t i = size_t(r * groups_ + g);
      if (scale_clamped_[i]) continue;
      const int b = bits_[size_t(g)];
      const QuantParams& p = params_[i];
      const int64_t c0 = g * width_, c1 = std::min(cols_, c0 + width_);
      double dscale = 0;
      if (b == 1) {
        for (int64_t c = c0; c < c1; ++c) dscale += dwq[r * cols_ + c] * (w_[r * cols_ + c] >= p.zero ? 1.0 : -1.0);
        const float sg = sigmoid(gamma_[i]);
        dgamma[i] += float(dscale * hi_raw_[i] * sg * (1.f - sg));
        continue;
      }
      // w' = s·(q - z), q = round_ste(w/s) + z: ∂w'/∂s = (q - z) - w/s in range, (q - z) when clamped.
      const float maxq = float((1 << b) - 1);
      for (int64_t c = c0; c < c1; ++c) {
        const float w = w_[r * cols_ + c];
        const float qu = std::nearbyint(w / p.scale) + p.zero;
        const float q = std::clamp(qu, 0.f, maxq);
        double d = double(q - p.zero);
        if (qu >= 0.f && qu <= maxq) d -= double(w) / p.scale;
        dscale += dwq[r * cols_ + c] * d;
      }
      // s = (σ(γ)·max - σ(β)·min) / maxq
      const float sg = sigmoid(gamma_[i]), sb = sigmoid(beta_[i]);
      dgamma[i] += float(dscale * sg * (1.f - sg) * hi_raw_[i] / maxq);
      dbeta[i] += float(-dscale * sb * (1.f - sb) * lo_raw_[i] / maxq);
    }
}

void AdamW::step(std::span<float> p, std::span<const float> g) {
  SLIM_CHECK(p.size() == m_.size() && g.size() == m_.size(), "AdamW: {} parameters, {} gradients, {} expected",
             p.size(), g.size(), m_.size());
  ++t_;
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const float c1 = 1.f - std::pow(b1, float(t_)), c2 = 1.f - std::pow(b2, float(t_));
  for (size_t i = 0; i < p.size(); ++i) {
    p[i] -= lr_ * wd_ * p[i];
    m_[i] = b1 * m_[i] + (1.f - b1) * g[i];
    v_[i] = b2 * v_[i] + (1.f - b2) * g[i] * g[i];
    p[i] -= lr_ * (m_[i] / c1) / (std::sqrt(v_[i] / c2) + eps);
  }
}

}  // namespace slim
