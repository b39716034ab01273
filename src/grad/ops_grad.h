// Forward/backward pairs of the decoder-block ops, llm.c style: each _forward
// keeps (or is handed) what its _backward needs; every _backward ACCUMULATES
// (+=) into its gradient outputs, so ops that share an input (q/k/v, gate/up,
// the residual) just add. Row-major activations (T, n), fp32; products on BLAS.
// Threading never splits a sum across threads (BLAS level 3 partitions rows and
// columns, attention one KV head per task), so gradients do not depend on the
// thread count. A later family (OPT: LayerNorm, ReLU, learned positions) adds
// its pairs here.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/ops.h"

namespace slim::grad {

// out (T, n) = x / rms(x) * w; rstd (T) keeps 1/rms per row.
void rmsnorm_forward(const float* x, const float* w, float* out, float* rstd, int T, int n, float eps);
// dx (T, n) += ∂/∂x; dw (n) += ∂/∂w (null: not wanted).
void rmsnorm_backward(const float* dout, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                      int T, int n);

// out (T, n) = (x - mean) * rstd * w + b (b may be null); mean, rstd (T) kept.
void layernorm_forward(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd, int T,
                       int n, float eps);
// dx (T, n) += ∂/∂x; dw, db (n) += ∂/∂w, ∂/∂b (null: not wanted).
void layernorm_backward(const float* dout, const float* x, const float* w, const float* mean, const float* rstd,
                        float* dx, float* dw, float* db, int T, int n);

// h = max(a, 0);  da += dh where a > 0.
void relu_forward(const float* a, float* h, int64_t n);
void relu_backward(const float* dh, const float* a, float* da, int64_t n);

// y (T, out) = x (T, in) · Wᵀ (+ b).  W: (out, in), b: (out) or null.
void linear_forward(const float* x, const float* W, const float* b, float* y, int T, int in, int out);
// dx (T, in) += dy W;  dW (out, in) += dyᵀ x;  db (out) += Σ_t dy. Any may be null.
void linear_backward(const float* dy, const float* x, const float* W, float* dx, float* dW, float* db, int T, int in,
                     int out);

// In-place rotation of every head of x (T, n_heads*head_dim) at positions 0..T-1.
void rope_forward(float* x, int T, int n_heads, int head_dim, PosKind layout, const RopeTable& tab);
// The rotation is orthogonal: the backward rotates the gradient back, in place.
void rope_backward(float* dx, int T, int n_heads, int head_dim, PosKind layout, const RopeTable& tab);

// Causal GQA attention over one window (positions 0..T-1, no sliding window).
// q (T, q_dim), k/v (T, kv_dim) after RoPE; out (T, q_dim); p (n_heads, T, T)
// receives the softmax probabilities (zero above the diagonal).
void attention_forward(const ModelConfig& c, const float* q, const float* k, const float* v, float* out, float* p,
                       int T);
// dq (T, q_dim), dk/dv (T, kv_dim) += gradients. scratch: resized as needed.
void attention_backward(const ModelConfig& c, const float* dout, const float* q, const float* k, const float* v,
                        const float* p, float* dq, float* dk, float* dv, int T, std::vector<float>& scratch);

// h = silu(gate) * up  (n values).
void swiglu_forward(const float* gate, const float* up, float* h, int64_t n);
// dgate, dup += gradients.
void swiglu_backward(const float* dh, const float* gate, const float* up, float* dgate, float* dup, int64_t n);

// The config's norm (RMSNorm, or LayerNorm with bias) as one forward/backward
// pair; `mean` is unused by RMSNorm.
void norm_forward(const ModelConfig& c, const float* x, const Tensor& w, const Tensor& b, float* out, float* mean,
                  float* rstd, int T, int n);
void norm_backward(const ModelConfig& c, const float* dout, const float* x, const Tensor& w, const float* mean,
                   const float* rstd, float* dx, float* dw, int T, int n);

}  // namespace slim::grad
