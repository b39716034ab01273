#include "model/arch.h"

#include <fmt/format.h>

namespace slim {

namespace {
// clang-format off
constexpr ArchSpec kArchs[] = {
  // hf_name               norm               mlp              pos                  qkv_bias  qk_norm window  tie    model_type
  {"LlamaForCausalLM",   NormKind::RMSNorm, MlpKind::SwiGLU, PosKind::RopeHalves, false,    false,  false,  false, "llama"},
  {"MistralForCausalLM", NormKind::RMSNorm, MlpKind::SwiGLU, PosKind::RopeHalves, false,    false,  true,   false, "mistral"},
  {"Qwen2ForCausalLM",   NormKind::RMSNorm, MlpKind::SwiGLU, PosKind::RopeHalves, true,     false,  true,   false, "qwen2"},
  {"Qwen3ForCausalLM",   NormKind::RMSNorm, MlpKind::SwiGLU, PosKind::RopeHalves, false,    true,   true,   false, "qwen3"},
};
// clang-format on
}  // namespace

const ArchSpec* find_arch(const std::string& hf_name) {
  for (const auto& a : kArchs)
    if (hf_name == a.hf_name) return &a;
  return nullptr;
}

const char* hf_model_type(const std::string& hf_name) {
  const ArchSpec* a = find_arch(hf_name);
  return a ? a->model_type : "llama";
}

std::string supported_archs() {
  std::string s;
  for (const auto& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.hf_name);
  return s;
}

std::string hf_block_tensor(int layer, const std::string& leaf) {
  return fmt::format("model.layers.{}.{}", layer, leaf);
}

}  // namespace slim
