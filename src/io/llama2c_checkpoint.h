// llama2.c legacy ("version 0") fp32 checkpoints: a 7 x int32 header
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
// negative vocab_size means the classifier is NOT shared with the embedding),
// then fp32 arrays in run.c's order. Weights are mapped, not copied.
#pragma once
#include <string>

#include "model/weights.h"

namespace slim {

Model load_llama2c(const std::string& path);
// Writes `m` in the same format (atomic). RoPE rows are converted to the
// interleaved layout if the model uses halves.
void save_llama2c(const Model& m, const std::string& path);

}  // namespace slim
