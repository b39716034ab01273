// Model hyper-parameters. Architecture specifics (norm kind, MLP kind, position
// encoding, biases) are data here, chosen once by the architecture table in
// arch.cc; the forward pass reads these fields and never tests model names.
#pragma once
#include <cstdint>
#include <string>

#include "model/rope_scaling.h"

namespace slim {

enum class NormKind { RMSNorm, LayerNorm };        // LayerNorm (with bias): OPT
enum class MlpKind { SwiGLU, ReLU };               // ReLU fc1 -> fc2: OPT
enum class PosKind { RopeHalves, RopeInterleaved, Learned };
// RopeHalves: HF rotate_half, pairs (i, i + head_dim/2).
// RopeInterleaved: llama2.c / Meta original, pairs (2i, 2i+1).
// Learned: a table of position embeddings added to the token embedding (OPT).

struct ModelConfig {
  std::string arch;          // "llama2c", "LlamaForCausalLM", ...
  int dim = 0;               // hidden size
  int hidden_dim = 0;        // FFN inner size
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;        // < n_heads: grouped-query attention
  int head_dim = 0;          // usually dim / n_heads
  int vocab_size = 0;
  int max_seq_len = 0;       // context length (max_position_embeddings)
  float norm_eps = 1e-5f;
  float rope_theta = 10000.f;
  RopeScaling rope_scaling;  // config.json "rope_scaling" (LLaMA-3.1 "llama3", "yarn", ...)
  int sliding_window = 0;    // 0: full causal attention (Mistral: window size)
  NormKind norm = NormKind::RMSNorm;
  MlpKind mlp = MlpKind::SwiGLU;
  PosKind pos = PosKind::RopeHalves;
  bool qkv_bias = false;     // Qwen2: biases on q/k/v projections
  bool qk_norm = false;      // Qwen3: RMSNorm over each head of q and k, before RoPE
  bool all_bias = false;     // OPT: every linear and every norm carries a bias
  bool norm_before = true;   // pre-norm blocks; false: norm after each residual add (OPT-350m)
  bool final_norm = true;    // a norm before the head (OPT-350m has none)
  int embed_dim = 0;         // token embedding width when it differs from dim (OPT word_embed_proj_dim)
  int pos_offset = 0;        // learned positions: table row of position 0 (OPT: 2)
  bool tie_embeddings = false;
  int bos_id = -1, eos_id = -1;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  int embed_width() const { return embed_dim > 0 ? embed_dim : dim; }  // columns of tok_embed / lm_head
  int64_t n_params() const;  // all weights, counting a tied head once
};

// Checks internal consistency (positive sizes, heads divide, even head_dim...).
// `what` names the source file for the error message.
void validate_config(const ModelConfig& c, const std::string& what);

}  // namespace slim
