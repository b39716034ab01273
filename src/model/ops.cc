#include "model/ops.h"

#include <cblas.h>

#include <array>
#include <cmath>

#include "model/dense16.h"
#include "model/rope_scaling.h"
#include "pack/packed_linear.h"
#include "util/error.h"
#include "util/fast_exp.h"

namespace slim {

void rmsnorm(const float* x, const float* w, float* out, int T, int n, float eps, float w_offset) {
#pragma omp parallel for if (int64_t(T) * n > 32768) schedule(static)
  for (int t = 0; t < T; ++t) {
    const float* xr = x + int64_t(t) * n;
    float* o = out + int64_t(t) * n;
    double ss = 0;  // double: long rows of large activations lose bits in fp32
    for (int i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
    const float inv = float(1.0 / std::sqrt(ss / n + eps));
    for (int i = 0; i < n; ++i) o[i] = xr[i] * inv * (w[i] + w_offset);
  }
}

void layernorm(const float* x, const float* w, const float* b, float* out, int T, int n, float eps) {
#pragma omp parallel for if (int64_t(T) * n > 32768) schedule(static)
  for (int t = 0; t < T; ++t) {
    const float* xr = x + int64_t(t) * n;
    float* o = out + int64_t(t) * n;
    double sum = 0, ss = 0;  // two passes in double: the variance of large activations
    for (int i = 0; i < n; ++i) sum += xr[i];
    const double mean = sum / n;
    for (int i = 0; i < n; ++i) ss += (xr[i] - mean) * (xr[i] - mean);
    const float inv = float(1.0 / std::sqrt(ss / n + eps)), m = float(mean);
    for (int i = 0; i < n; ++i) o[i] = (xr[i] - m) * inv * w[i] + (b ? b[i] : 0.f);
  }
}

void norm_rows(const ModelConfig& c, const float* x, const Tensor& w, const Tensor& bias, float* out, int T, int n) {
  if (c.norm == NormKind::LayerNorm)
    layernorm(x, w.data(), bias.empty() ? nullptr : bias.data(), out, T, n, c.norm_eps);
  else
    rmsnorm(x, w.data(), out, T, n, c.norm_eps, c.norm == NormKind::RMSNormPlusOne ? 1.f : 0.f);
}

void relu(float* x, int64_t n) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : 0.f;
}

namespace {
constexpr int64_t kSmallGemv = 1 << 17;  // weights

// y (T, out, row stride ldy) += L's bias, if it has one.
void add_bias(const Linear& L, float* y, int T, int ldy) {
  if (L.bias.empty()) return;
  const float* b = L.bias.data();
  const int64_t out = L.out();
  for (int t = 0; t < T; ++t)
    for (int64_t o = 0; o < out; ++o) y[int64_t(t) * ldy + o] += b[o];
}
}  // namespace

void linear(const float* x, const Linear& L, float* y, int T, int ldy) {
  const int out = int(L.out()), in = int(L.in());
  if (ldy < 0) ldy = out;
  if (L.packed) {
    L.packed->matmul(x, y, T, in, ldy);
  } else if (!L.w.is_f32()) {
    dense16_matmul(L.w, x, y, T, in, ldy);  // fp16/bf16 weights read in place
  } else if (T == 1 && int64_t(out) * in <= kSmallGemv) {
    // Tiny layers (stories260K): OpenBLAS threads sgemv from ~10k weights on,
    // and a fork/join costs more than the product; one thread, vectorised loop.
    for (int o = 0; o < out; ++o) {
      const float* w = L.w.data() + int64_t(o) * in;
      float acc = 0.f;
#pragma omp simd reduction(+ : acc)
      for (int i = 0; i < in; ++i) acc += w[i] * x[i];
      y[o] = acc;
    }
  } else if (T == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.f, L.w.data(), in, x, 1, 0.f, y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.f, x, in, L.w.data(), in, 0.f, y, ldy);
  }
  add_bias(L, y, T, ldy);
}

void linear_shared_input(const float* x, std::span<const Linear* const> Ls, std::span<float* const> ys, int T) {
  SLIM_CHECK(Ls.size() == ys.size(), "linear_shared_input: {} linears, {} outputs", Ls.size(), ys.size());
  constexpr size_t kMax = PackedLinear::kMaxSharedInput;
  bool packed = Ls.size() <= kMax;
  for (const Linear* L : Ls) packed = packed && L->packed != nullptr;
  if (!packed) {
    for (size_t i = 0; i < Ls.size(); ++i) linear(x, *Ls[i], ys[i], T);
    return;
  }
  std::array<const PackedLinear*, kMax> P{};
  for (size_t i = 0; i < Ls.size(); ++i) P[i] = Ls[i]->packed.get();
  PackedLinear::matmul_shared_input(std::span(P.data(), Ls.size()), x, ys, T, Ls[0]->in());
  for (size_t i = 0; i < Ls.size(); ++i) add_bias(*Ls[i], ys[i], T, int(Ls[i]->out()));
}

void swiglu(float* gate, const float* up, int64_t n) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

void geglu(float* gate, const float* up, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = 0.5f * g * (1.f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
  }
}

void softcap(float* x, int64_t n, float cap) {
  const float inv = 1.f / cap;  // serial: called per attention row inside the parallel attention loop
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i] * inv) * cap;
}

void add_inplace(float* x, const float* y, int64_t n) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

namespace {
void fill_table(RopeTable& t, const RopeFrequencies& f) {
  for (int p = 0; p < t.max_pos; ++p)
    for (int i = 0; i < t.half; ++i) {
      const double angle = p * f.inv_freq[size_t(i)];
      t.cos[size_t(p) * t.half + i] = float(std::cos(angle) * f.attention_scale);
      t.sin[size_t(p) * t.half + i] = float(std::sin(angle) * f.attention_scale);
    }
}
}  // namespace

void RopeTable::build(const ModelConfig& c, int max_pos_) {
  half = c.head_dim / 2;
  max_pos = max_pos_;
  cos.resize(size_t(max_pos) * half);
  sin.resize(size_t(max_pos) * half);
  fill_table(*this, rope_frequencies(c.rope_theta, c.head_dim, c.rope_scaling, c.max_seq_len, max_pos));
  local.reset();
  if (c.rope_local_theta > 0) {
    // Gemma-3: Local layers rotate with rope_local_base_freq and the default
    // (unscaled) RoPE; rope_scaling belongs to the global layers only.
    auto t = std::make_shared<RopeTable>();
    t->half = half;
    t->max_pos = max_pos;
    t->cos.resize(cos.size());
    t->sin.resize(sin.size());
    fill_table(*t, rope_frequencies(c.rope_local_theta, c.head_dim, RopeScaling{}, c.max_seq_len, max_pos));
    local = std::move(t);
  }
}

void rope(float* x, int T, int n_heads, int head_dim, int pos0, PosKind layout, const RopeTable& tab) {
  const int half = head_dim / 2;
  // Pair (a, b) of a head: interleaved (2i, 2i+1), halves (i, i+half).
  const int stride_i = layout == PosKind::RopeInterleaved ? 2 : 1;
  const int offset_b = layout == PosKind::RopeInterleaved ? 1 : half;
#pragma omp parallel for if (int64_t(T) * n_heads * head_dim > 65536) schedule(static)
  for (int t = 0; t < T; ++t) {
    const float* cs = &tab.cos[size_t(pos0 + t) * half];
    const float* sn = &tab.sin[size_t(pos0 + t) * half];
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (int64_t(t) * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        float& a = v[i * stride_i];
        float& b = v[i * stride_i + offset_b];
        const float a0 = a, b0 = b;
        a = a0 * cs[i] - b0 * sn[i];
        b = a0 * sn[i] + b0 * cs[i];
      }
    }
  }
}

void softmax(float* x, int n) {
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

void softmax_fast(float* x, int n) {
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (int i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) {
    x[i] = fast_exp(std::max(x[i] - mx, -87.f));  // fast_exp's range; e^-87 ~ 1.6e-38 is 0 next to the max's 1
    sum += x[i];
  }
  const float inv = 1.f / sum;
#pragma omp simd
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace slim
