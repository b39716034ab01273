// The architecture table: one row per Hugging Face architecture name, with
// the block's computation (norm, MLP, positions, biases) and the checkpoint's
// layout (tensor names, config.json keys). Adding a family means adding a
// row (and, for a new kind of block, a NormKind/MlpKind/PosKind value the
// forward pass implements) — never an if-chain on names.
#pragma once
#include <string>
#include <vector>

#include "model/config.h"

namespace slim {

// Tensor names of a family's checkpoint, without the ".weight"/".bias" suffix.
// Block leaves are relative to `block` ("model.layers.{}."); nullptr: absent.
struct HfNames {
  const char* embed;        // "model.embed_tokens"
  const char* pos_embed;    // learned positions ("model.decoder.embed_positions")
  const char* project_in;   // word_embed_proj_dim -> hidden (OPT-350m)
  const char* project_out;  // hidden -> word_embed_proj_dim
  const char* final_norm;   // "model.norm"
  const char* block;        // "model.layers.{}."
  const char* attn_norm;    // "input_layernorm"
  const char* ffn_norm;     // "post_attention_layernorm"
  const char* q_norm;       // per-head norms (qk_norm)
  const char* k_norm;
  const char* linear[7];    // q, k, v, o, gate, up, down (BlockWeights::linears() order)
  // Phi-3 stores q/k/v and gate/up as one matrix each (rows q|k|v, gate|up):
  // HF files use these; the linears are split at load and packed split.
  const char* fused_qkv = nullptr;
  const char* fused_gate_up = nullptr;
  // Gemma's sandwich norms on the attention and MLP outputs (config
  // sandwich_norm); ffn_norm is then "pre_feedforward_layernorm".
  const char* post_attn_norm = nullptr;  // "post_attention_layernorm"
  const char* post_ffn_norm = nullptr;   // "post_feedforward_layernorm"
};

// config.json keys and values that differ between families.
struct HfKeys {
  const char* ffn_size;     // "intermediate_size" / "ffn_dim"
  const char* activation;   // "hidden_act" / "activation_function"
  const char* act_value;    // "silu" / "relu"
  const char* norm_eps;     // "rms_norm_eps"; nullptr: not in config.json (fixed default_eps)
  double default_eps;
};

// Models whose layers mix sliding-window ("local") and global attention, with
// scaled embeddings and soft-capped logits (Gemma-2/3): the config.json keys
// transformers' config class defaults when a file omits them
// (io/hf_hybrid_config.cc reads and writes them).
struct HfHybridKeys {
  int default_pattern;           // no "layer_types": layer i is global iff (i + 1) % pattern == 0
  const char* pattern_key;       // config key overriding the pattern ("sliding_window_pattern"), or nullptr
  int default_window;            // "sliding_window"
  int default_head_dim;          // "head_dim"
  double default_rope_theta;     // "rope_theta"
  double default_query_scalar;   // "query_pre_attn_scalar"
  double default_attn_softcap;   // "attn_logit_softcapping" when absent (null: none); 0: none
  bool attn_softcap_applied;     // false: HF's attention ignores the key (Gemma-3): a non-null value is refused
  double default_final_softcap;  // "final_logit_softcapping" when absent (null: none)
  bool local_rope;               // local layers use "rope_local_base_freq" (Gemma-3)
  double default_local_theta;    // its default
};

struct ArchSpec {
  const char* hf_name;     // config.json "architectures"[0]
  NormKind norm;
  MlpKind mlp;
  PosKind pos;
  bool qkv_bias;           // q/k/v projections carry biases
  bool all_bias;           // every linear and norm carries a bias (OPT)
  bool qk_norm;            // per-head RMSNorm of q and k before RoPE (Qwen3)
  bool uses_sliding_window;  // honour config "sliding_window"
  bool default_tie;        // tie_word_embeddings when config.json omits it
  int pos_offset;          // learned positions: row of position 0 (OPT: 2)
  const char* model_type;  // config.json "model_type"
  const HfNames* names;
  const HfKeys* keys;
  const HfHybridKeys* hybrid = nullptr;  // Gemma-2/3, else nullptr
};

// nullptr when the architecture is unknown.
const ArchSpec* find_arch(const std::string& hf_name);
// Why a known but unsupported architecture is refused, or nullptr.
const char* refused_arch_reason(const std::string& hf_name);
// The row of a loaded model's config ("llama2c" models use the LLaMA row).
const ArchSpec& arch_of(const ModelConfig& c);
// "LlamaForCausalLM, MistralForCausalLM, ..." for error messages.
std::string supported_archs();

// "model.layers.3.self_attn.q_proj" for `leaf` of block `layer` (no suffix).
std::string hf_block_name(const ArchSpec& a, int layer, const std::string& leaf);
// HF leaf of the linear named `name` in BlockWeights::linears() ("q_proj", ...).
const char* hf_linear_leaf(const ArchSpec& a, const std::string& name);

}  // namespace slim
