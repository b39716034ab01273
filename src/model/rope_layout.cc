#include "model/rope_layout.h"

#include <cstring>

namespace slim {

namespace {
Tensor permute(const Tensor& w16, int n_heads, int head_dim, bool to_halves) {
  const Tensor w = w16.to_f32();
  const int64_t cols = w.cols(), half = head_dim / 2;
  std::vector<float> out(size_t(w.numel()));
  for (int h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int s = 0; s < 2; ++s) {
        int64_t inter = int64_t(h) * head_dim + 2 * i + s;
        int64_t halves = int64_t(h) * head_dim + s * half + i;
        int64_t src = to_halves ? inter : halves, dst = to_halves ? halves : inter;
        std::memcpy(&out[size_t(dst * cols)], w.row(src), size_t(cols) * sizeof(float));
      }
  return Tensor::from(std::move(out), w.rows(), cols);
}
}  // namespace

Tensor rope_rows_interleaved_to_halves(const Tensor& w, int n_heads, int head_dim) {
  return permute(w, n_heads, head_dim, true);
}
Tensor rope_rows_halves_to_interleaved(const Tensor& w, int n_heads, int head_dim) {
  return permute(w, n_heads, head_dim, false);
}

}  // namespace slim
