// SliM-LLM+'s mixed-precision learnable weight clipping (OmniQuant's LWC with
// SliM's per-group bit widths; shared/docs/slim-llm-spec.md §6). One linear
// (rows, cols), groups of `group_size` columns, each (row, group) with two
// learnable logits γ, β (init 4.0, σ(4) ≈ 0.982):
//   b >= 2: hi = σ(γ)·max w, lo = σ(β)·min w over the group's row segment;
//           scale = clamp((hi-lo)/(2^b-1), 1e-5, 1e4), zero = round(-lo/scale);
//           w' = scale·(clamp(round(w/scale) + zero, 0, 2^b-1) - zero),
//           round through a straight-through estimator, zero not differentiated.
//   b = 1:  zero = mean w, scale = mean|w - zero|·(σ(γ) + 0.5); w' = zero ± scale.
//           β unused. Unlike the reference the offset `zero` is kept (the
//           reference drops it, which the packed format could not store), and
//           the base is mean|w - zero| rather than mean|w| for the same reason
//           (the two agree when the mean is 0).
// Unlike the reference the parameters are what the packed format stores: the
// scale (and 1-bit mean) rounded to fp16 and the zero point an integer in
// [0, 2^b-1], in the forward of every training step too (gradients pass the
// fp16 rounding straight through). So the trained model is exactly the packed
// one, and w' = fake_quant(w, params) (quantizer.h) bit for bit.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "quant/quantizer.h"

namespace slim {

class LwcLinear {
 public:
  // w (rows, cols): the weights being quantized (kept by the caller, unchanged).
  LwcLinear(const float* w, int64_t rows, int64_t cols, int group_size, std::vector<int> group_bits,
            float init = 4.f);

  // Sets γ (and β) of every (row, group) so that the clipped range is as close
  // as the sigmoid allows to `p`'s range (p: (rows, groups), e.g. SQC's fit).
  void init_from_params(std::span<const QuantParams> p);

  // wq (rows, cols) = the quantized weights under the current γ/β; keeps the
  // parameters for backward() and params().
  void forward(float* wq);
  // dγ, dβ (rows, groups) += from dwq (rows, cols) = ∂loss/∂w', at the last forward().
  void backward(const float* dwq, float* dgamma, float* dbeta) const;

  std::span<float> gamma() { return gamma_; }
  std::span<float> beta() { return beta_; }
  const std::vector<QuantParams>& params() const { return params_; }  // (rows, groups), at the last forward
  const std::vector<int>& group_bits() const { return bits_; }
  int64_t rows() const { return rows_; }
  int64_t groups() const { return groups_; }

 private:
  const float* w_;
  int64_t rows_, cols_, width_, groups_;
  std::vector<int> bits_;                   // (groups)
  std::vector<float> gamma_, beta_;         // (rows, groups)
  std::vector<float> lo_raw_, hi_raw_;      // (rows, groups) min/max w (b>=2); 1-bit: mean, mean|w-mean|
  std::vector<QuantParams> params_;         // (rows, groups) at the last forward
  std::vector<uint8_t> scale_clamped_;      // (rows, groups) scale hit 1e-5 / 1e4: no gradient
};

// AdamW over a flat parameter list (PyTorch's defaults: betas 0.9/0.999, eps 1e-8).
class AdamW {
 public:
  AdamW(size_t n, float lr, float weight_decay) : lr_(lr), wd_(weight_decay), m_(n, 0.f), v_(n, 0.f) {}
  // p -= update(g); p and g hold n values each, in the same order every step.
  void step(std::span<float> p, std::span<const float> g);

 private:
  float lr_, wd_;
  int t_ = 0;
  std::vector<float> m_, v_;
};

}  // namespace slim
