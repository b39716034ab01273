#include "model/arch.h"

#include <fmt/format.h>

namespace slim {

namespace {
// clang-format off
constexpr ArchSpec kArchs[] = {
  // hf_name               norm               mlp              pos                  qkv_bias  window  tie
  {"LlamaForCausalLM",   NormKind::RMSNorm, MlpKind::SwiGLU, PosKind::RopeHalves, false,    false,  false},
  {"MistralForCausalLM", NormKind::RMSNorm, MlpKind::SwiGLU, PosKind::RopeHalves, false,    true,   false},
  {"Qwen2ForCausalLM",   NormKind::RMSNorm, MlpKind::SwiGLU, PosKind::RopeHalves, true,     true,   false},
};
// clang-format on
}  // namespace

const ArchSpec* find_arch(const std::string& hf_name) {
  for (const auto& a : kArchs)
    if (hf_name == a.hf_name) return &a;
  return nullptr;
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
