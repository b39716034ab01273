// RoPE weight layouts. llama2.c (and Meta's original checkpoints) rotate
// interleaved pairs (2i, 2i+1) of each head; Hugging Face rotates halves
// (i, i + head_dim/2). HF's conversion script permutes the rows of wq and wk so
// the same model works with rotate_half; these helpers do that permutation.
#pragma once
#include "model/tensor.h"

namespace slim {

// w: (n_heads*head_dim, in). Interleaved row h*hd + 2i + s -> halves row h*hd + s*hd/2 + i.
Tensor rope_rows_interleaved_to_halves(const Tensor& w, int n_heads, int head_dim);
Tensor rope_rows_halves_to_interleaved(const Tensor& w, int n_heads, int head_dim);

}  // namespace slim
