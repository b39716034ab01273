// Row-wise ops of the forward pass, fp32. Activations are row-major (T, n):
// one row per token. These scalar loops are the reference; the compiler
// vectorises them at -O3 -march=x86-64-v3 (they are <5% of prefill time: the
// GEMMs dominate).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace slim {

// out = x / rms(x) * (w + w_offset), per row.  x, out: (T, n); w: (n). out may alias x.
// w_offset 1: Gemma's norm, whose checkpoints store the weight minus one
// (HF adds the 1 in fp32, as here).
void rmsnorm(const float* x, const float* w, float* out, int T, int n, float eps, float w_offset = 0.f);

// out = (x - mean(x)) / sqrt(var(x) + eps) * w + b, per row; b may be null.
// x, out: (T, n); out may alias x.
void layernorm(const float* x, const float* w, const float* b, float* out, int T, int n, float eps);

// The config's norm (RMSNorm, Gemma's (1 + w) RMSNorm, or LayerNorm with
// `bias`) of each row. bias: (1, n) or empty. Also the per-head q/k norms
// (rows of head_dim).
void norm_rows(const ModelConfig& c, const float* x, const Tensor& w, const Tensor& bias, float* out, int T, int n);

// y (T, out) = x (T, in) · Wᵀ (+ bias). Dense: one BLAS call, sgemv for T == 1,
// sgemm otherwise. Packed: the packed kernels (pack/packed_linear.h).
// ldy: row stride of y (>= out), so results can land inside a larger buffer (the KV cache).
void linear(const float* x, const Linear& L, float* y, int T, int ldy = -1);

// ys[i] (T, Ls[i]->out(), dense) = x (T, in) · W_iᵀ (+ bias) for linears reading
// the same x (q/k/v; gate/up): when all are packed, one
// PackedLinear::matmul_shared_input (decode: one parallel region, x prepared
// once); otherwise linear() each. The results equal linear() each's bit for bit.
void linear_shared_input(const float* x, std::span<const Linear* const> Ls, std::span<float* const> ys, int T);

// gate = silu(gate) * up, elementwise. (T*n values.)
void swiglu(float* gate, const float* up, int64_t n);

// gate = gelu_tanh(gate) * up, elementwise (T*n values); gelu_tanh is
// PyTorch's gelu(approximate="tanh"), HF "gelu_pytorch_tanh".
void geglu(float* gate, const float* up, int64_t n);

// x = tanh(x / cap) * cap, elementwise (Gemma's soft-capping; cap > 0).
void softcap(float* x, int64_t n, float cap);

// x = max(x, 0), elementwise.
void relu(float* x, int64_t n);

// x += y, elementwise.
void add_inplace(float* x, const float* y, int64_t n);

// Rotary position embedding tables: cos/sin of pos * theta^(-2i/head_dim)
// (with config rope_scaling applied: model/rope_scaling.h), shape
// (max_pos, head_dim/2), computed in double once.
// Models whose Local layers have their own base (Gemma-3) get a second,
// unscaled table for them in `local`.
struct RopeTable {
  int half = 0;
  int max_pos = 0;
  std::vector<float> cos, sin;  // (max_pos, half)
  std::shared_ptr<const RopeTable> local;  // Local layers' table, or null (every layer uses this one)
  void build(const ModelConfig& c, int max_pos);
  // The table `layer` rotates with.
  const RopeTable& for_layer(const ModelConfig& c, int layer) const {
    return local && c.local_rope(layer) ? *local : *this;
  }
};

// Rotates every head of x (T, n_heads*head_dim) for positions pos0..pos0+T-1.
void rope(float* x, int T, int n_heads, int head_dim, int pos0, PosKind layout, const RopeTable& t);

// In-place numerically stable softmax over n values.
void softmax(float* x, int n);
// The same with fast_exp (~1 ulp) and a vectorised fp32 sum: decode
// attention's softmax over the whole context (std::exp is not vectorised and
// dominated decode attention from context ~512). Prefill keeps softmax().
void softmax_fast(float* x, int n);

}  // namespace slim
