#include "model/arch.h"

#include <fmt/format.h>

#include "util/error.h"

namespace slim {

namespace {

constexpr HfNames kLlamaNames = {
    "model.embed_tokens", nullptr, nullptr, nullptr, "model.norm", "model.layers.{}.",
    "input_layernorm", "post_attention_layernorm", "self_attn.q_norm", "self_attn.k_norm",
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
     "mlp.down_proj"}};
// facebook/opt-*: the hub files name tensors "decoder...." (no "model."); the
// loader accepts both, writers use the transformers module paths below.
constexpr HfNames kOptNames = {
    "model.decoder.embed_tokens", "model.decoder.embed_positions", "model.decoder.project_in",
    "model.decoder.project_out", "model.decoder.final_layer_norm", "model.decoder.layers.{}.",
    "self_attn_layer_norm", "final_layer_norm", nullptr, nullptr,
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", nullptr, "fc1", "fc2"}};

constexpr HfNames kPhi3Names = {
    "model.embed_tokens", nullptr, nullptr, nullptr, "model.norm", "model.layers.{}.",
    "input_layernorm", "post_attention_layernorm", nullptr, nullptr,
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
     "mlp.down_proj"},
    "self_attn.qkv_proj", "mlp.gate_up_proj"};

// Gemma-2/3: four norms per block; "post_attention_layernorm" is the norm of
// the attention output here, not the MLP's input norm as in LLaMA.
constexpr HfNames kGemmaNames = {
    "model.embed_tokens", nullptr, nullptr, nullptr, "model.norm", "model.layers.{}.",
    "input_layernorm", "pre_feedforward_layernorm", "self_attn.q_norm", "self_attn.k_norm",
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
     "mlp.down_proj"},
    nullptr, nullptr, "post_attention_layernorm", "post_feedforward_layernorm"};

constexpr HfKeys kLlamaKeys = {"intermediate_size", "hidden_act", "silu", "rms_norm_eps", 1e-6};
constexpr HfKeys kOptKeys = {"ffn_dim", "activation_function", "relu", nullptr, 1e-5};
// Gemma's MLP reads "hidden_activation" (the files also carry "hidden_act", which the model ignores).
constexpr HfKeys kGemmaKeys = {"intermediate_size", "hidden_activation", "gelu_pytorch_tanh", "rms_norm_eps", 1e-6};

// Defaults of transformers' Gemma2Config / Gemma3TextConfig. Gemma-2: even
// layers (0, 2, ...) slide; Gemma-3: five local layers, then one global.
// clang-format off
constexpr HfHybridKeys kGemma2Hybrid = {2, nullptr,                  4096, 256, 10000.0,   256, 50.0, true,  30.0, false, 0};
constexpr HfHybridKeys kGemma3Hybrid = {6, "sliding_window_pattern", 4096, 256, 1000000.0, 256, 0.0,  false, 0.0,  true,  10000.0};
// clang-format on

// clang-format off
constexpr ArchSpec kArchs[] = {
  // hf_name               norm                 mlp              pos                  qkv_b  all_b  qk_n   window tie    off model_type
  {"LlamaForCausalLM",   NormKind::RMSNorm,   MlpKind::SwiGLU, PosKind::RopeHalves, false, false, false, false, false, 0, "llama",   &kLlamaNames, &kLlamaKeys},
  {"MistralForCausalLM", NormKind::RMSNorm,   MlpKind::SwiGLU, PosKind::RopeHalves, false, false, false, true,  false, 0, "mistral", &kLlamaNames, &kLlamaKeys},
  {"Qwen2ForCausalLM",   NormKind::RMSNorm,   MlpKind::SwiGLU, PosKind::RopeHalves, true,  false, false, true,  false, 0, "qwen2",   &kLlamaNames, &kLlamaKeys},
  {"Qwen3ForCausalLM",   NormKind::RMSNorm,   MlpKind::SwiGLU, PosKind::RopeHalves, false, false, true,  true,  false, 0, "qwen3",   &kLlamaNames, &kLlamaKeys},
  {"Phi3ForCausalLM",    NormKind::RMSNorm,   MlpKind::SwiGLU, PosKind::RopeHalves, false, false, false, true,  false, 0, "phi3",    &kPhi3Names,  &kLlamaKeys},
  {"OPTForCausalLM",     NormKind::LayerNorm, MlpKind::ReLU,   PosKind::Learned,    true,  true,  false, false, true,  2, "opt",     &kOptNames,   &kOptKeys},
  {"Gemma2ForCausalLM",  NormKind::RMSNormPlusOne, MlpKind::GeGLU, PosKind::RopeHalves, false, false, false, true, true, 0, "gemma2", &kGemmaNames, &kGemmaKeys, &kGemma2Hybrid},
  {"Gemma3ForCausalLM",  NormKind::RMSNormPlusOne, MlpKind::GeGLU, PosKind::RopeHalves, false, false, true,  true, true, 0, "gemma3_text", &kGemmaNames, &kGemmaKeys, &kGemma3Hybrid},
};

struct Refused {
  const char* hf_name;
  const char* reason;
};
constexpr Refused kRefused[] = {
  {"Gemma3ForConditionalGeneration",
   "the multimodal Gemma-3 layout (vision tower, language_model.* tensors, nested text_config) is not supported; "
   "text-only Gemma3ForCausalLM checkpoints (gemma-3-1b, or a text-only export) are"},
};
// clang-format on

constexpr const char* kLinearNames[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

}  // namespace

const ArchSpec* find_arch(const std::string& hf_name) {
  for (const auto& a : kArchs)
    if (hf_name == a.hf_name) return &a;
  return nullptr;
}

const char* refused_arch_reason(const std::string& hf_name) {
  for (const auto& r : kRefused)
    if (hf_name == r.hf_name) return r.reason;
  return nullptr;
}

const ArchSpec& arch_of(const ModelConfig& c) {
  if (const ArchSpec* a = find_arch(c.arch)) return *a;
  return kArchs[0];  // llama2.c checkpoints and in-memory test models: the LLaMA layout
}

std::string supported_archs() {
  std::string s;
  for (const auto& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.hf_name);
  return s;
}

std::string hf_block_name(const ArchSpec& a, int layer, const std::string& leaf) {
  return fmt::format(fmt::runtime(a.names->block), layer) + leaf;
}

const char* hf_linear_leaf(const ArchSpec& a, const std::string& name) {
  for (int i = 0; i < 7; ++i)
    if (name == kLinearNames[i]) {
      SLIM_CHECK(a.names->linear[i] != nullptr, "{} has no {} linear", a.hf_name, name);
      return a.names->linear[i];
    }
  fail("unknown block linear '{}'", name);
}

}  // namespace slim
