// libFuzzer target: the packed model loader (load_packed_model: model.slim.safetensors, its
// metadata and every packed linear's parts), then one prefill (GEMM path) and one decode step
// (GEMV path) of the loaded model, so that parts that pass validation are also read.
// Input: one selector byte (even: a LLaMA config.json, odd: Qwen2 with q/k/v biases), then
// the bytes of model.slim.safetensors. The configs are those of the seed generator's tiny
// models (fuzz/seedgen/packed_seeds.cc), so the seeds load and the fuzzer starts deep.
#include <cstring>
#include <filesystem>
#include <vector>

#include "fuzz_util.h"
#include "model/forward.h"
#include "pack/packed_model.h"

namespace {

constexpr const char* kLlamaConfig = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 16, "intermediate_size": 44, "num_hidden_layers": 1, "num_attention_heads": 4,
 "num_key_value_heads": 2, "vocab_size": 48, "max_position_embeddings": 64, "rms_norm_eps": 1e-05,
 "rope_theta": 10000.0, "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2})";
constexpr const char* kQwenConfig = R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
 "hidden_size": 16, "intermediate_size": 44, "num_hidden_layers": 1, "num_attention_heads": 4,
 "num_key_value_heads": 2, "vocab_size": 48, "max_position_embeddings": 64, "rms_norm_eps": 1e-06,
 "rope_theta": 10000.0, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2})";

const std::string& model_dir() {
  static const std::string dir = [] {
    auto d = slim_fuzz::scratch_dir() / "packed";
    std::filesystem::create_directories(d);
    return d.string();
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string& dir = model_dir();
  static int current = -1;
  const int variant = data[0] & 1;
  if (variant != current) {
    const char* cfg = variant ? kQwenConfig : kLlamaConfig;
    slim_fuzz::write_input("packed/config.json", reinterpret_cast<const uint8_t*>(cfg), std::strlen(cfg));
    current = variant;
  }
  slim_fuzz::write_input(std::string("packed/") + slim::kPackedFileName, data + 1, size - 1);
  return slim_fuzz::expect_ok_or_error([&] {
    const slim::Model m = slim::load_packed_model(dir);
    const slim::PackedSummary s = slim::summarize_packed_model(m);
    if (s.file_bytes < 0) std::abort();
    const std::vector<int> tokens = {1, 7, 47};
    const std::vector<float> logits = slim::forward_logits(m, tokens);
    if (logits.size() != tokens.size() * size_t(m.config.vocab_size)) std::abort();
    slim::Session session(m, 4);
    (void)session.step(std::span<const int>(tokens.data(), 1));
    (void)session.step(std::span<const int>(tokens.data() + 1, 1));
  });
}
