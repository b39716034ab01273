// RoPE frequency scaling as Hugging Face transformers computes it
// (modeling_rope_utils.py): the per-pair inverse frequencies and the factor
// that multiplies cos/sin, for config.json's "rope_scaling" types. A long-
// context checkpoint (LLaMA-3.1/3.2 "llama3", Qwen "yarn", ...) run without its
// scaling gives silently wrong logits, so every type is computed, none ignored.
#pragma once
#include <vector>

namespace slim {

enum class RopeScalingType { None, Linear, Dynamic, Llama3, Yarn };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1;              // all types
  int original_max_pos = 0;       // llama3, yarn (0: max_position_embeddings)
  double low_freq_factor = 1;     // llama3
  double high_freq_factor = 4;    // llama3
  double beta_fast = 32, beta_slow = 1;  // yarn
  double mscale = 0, mscale_all_dim = 0;  // yarn (0: absent)
  double attention_factor = 0;    // yarn (0: derived from factor)
  bool truncate = true;           // yarn: integer correction range
};

struct RopeFrequencies {
  std::vector<double> inv_freq;  // (head_dim/2): angle of pair i at position p is p * inv_freq[i]
  double attention_scale = 1;    // multiplies cos and sin (yarn's mscale)
};

// head_dim: rotated dimensions; max_pos_embeddings: config.json's
// max_position_embeddings; seq_len: the longest sequence the table serves
// ("dynamic" rescales the base once it exceeds max_pos_embeddings, as HF
// does for the sequence it is given).
RopeFrequencies rope_frequencies(double theta, int head_dim, const RopeScaling& s, int max_pos_embeddings,
                                 int seq_len);

const char* rope_scaling_name(RopeScalingType t);

}  // namespace slim
