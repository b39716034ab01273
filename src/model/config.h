// Model hyper-parameters. Architecture specifics (norm kind, MLP kind, position
// encoding, biases) are data here, chosen once by the architecture table in
// arch.cc; the forward pass reads these fields and never tests model names.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/rope_scaling.h"

namespace slim {

// RMSNormPlusOne: x / rms(x) * (1 + w) in fp32 (Gemma stores the weight minus one).
enum class NormKind { RMSNorm, LayerNorm, RMSNormPlusOne };  // LayerNorm (with bias): OPT
// ReLU fc1 -> fc2: OPT. GeGLU: gelu_tanh(gate) * up (Gemma "gelu_pytorch_tanh").
enum class MlpKind { SwiGLU, ReLU, GeGLU };
// A layer's attention: Global (full causal) or Local (sliding window, and the
// local RoPE base where the model has one). Gemma-2/3 mix the two.
enum class LayerAttn : uint8_t { Global, Local };
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
  // Per layer (Gemma-2/3 layer_types): only Local layers use sliding_window.
  // Empty: every layer is alike (sliding_window, if any, applies to all: Mistral).
  std::vector<LayerAttn> layer_attn;
  float rope_local_theta = 0;  // Local layers' RoPE base, unscaled (Gemma-3 rope_local_base_freq); 0: the global table
  float attn_scalar = 0;     // attention scores scaled by attn_scalar^-1/2 (Gemma query_pre_attn_scalar); 0: head_dim
  float attn_softcap = 0;    // scores -> tanh(s/cap)*cap before mask and softmax (Gemma-2); 0: none
  float final_softcap = 0;   // logits -> tanh(l/cap)*cap (Gemma-2); 0: none
  float embed_scale = 1;     // token embeddings are multiplied by this (Gemma: sqrt(hidden), see hf_hybrid_config.cc)
  bool sandwich_norm = false;  // Gemma: each sub-block's output is normed again before the residual add
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
  bool is_local(int layer) const { return !layer_attn.empty() && layer_attn[size_t(layer)] == LayerAttn::Local; }
  // The attention window of `layer` (0: full causal attention).
  int window(int layer) const { return layer_attn.empty() || is_local(layer) ? sliding_window : 0; }
  // Whether `layer` rotates with the local RoPE base instead of rope_theta + rope_scaling.
  bool local_rope(int layer) const { return rope_local_theta > 0 && is_local(layer); }
  int64_t n_params() const;  // all weights, counting a tied head once
};

// Checks internal consistency (positive sizes, heads divide, even head_dim...).
// `what` names the source file for the error message.
void validate_config(const ModelConfig& c, const std::string& what);

}  // namespace slim
