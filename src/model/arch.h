// The architecture table: one row per Hugging Face architecture name. Adding a
// family means adding a row (and, for a new kind of block, a NormKind/MlpKind/
// PosKind value the forward pass implements) — never an if-chain on names.
#pragma once
#include <string>
#include <vector>

#include "model/config.h"

namespace slim {

struct ArchSpec {
  const char* hf_name;     // config.json "architectures"[0]
  NormKind norm;
  MlpKind mlp;
  PosKind pos;
  bool qkv_bias;           // q/k/v projections carry biases
  bool qk_norm;            // per-head RMSNorm of q and k before RoPE (Qwen3)
  bool uses_sliding_window;  // honour config "sliding_window"
  bool default_tie;        // tie_word_embeddings when config.json omits it
  const char* model_type;  // config.json "model_type"
};

// config.json "model_type" of an architecture ("llama" for llama2.c models).
const char* hf_model_type(const std::string& hf_name);
// nullptr when the architecture is unknown.
const ArchSpec* find_arch(const std::string& hf_name);
// "LlamaForCausalLM, MistralForCausalLM, ..." for error messages.
std::string supported_archs();

// HF tensor names of the LLaMA-family layout.
std::string hf_block_tensor(int layer, const std::string& leaf);  // "model.layers.3.<leaf>"

}  // namespace slim
