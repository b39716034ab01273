// Tiny checkpoints in the exact Hugging Face layout of each family (tensor
// names, shapes and bf16 dtype as the hub files have them, config.json with
// the fields transformers reads), and an independent float64 forward pass that
// reads those tensors by their HF names: the modeling_*.py code written out
// as plain loops, sharing nothing with the production loader or forward pass
// (only the RoPE frequencies, model/rope_scaling.h, tested on their own).
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/rope_scaling.h"
#include "io/hf_rope_scaling.h"
#include "util/error.h"
#include "util/half.h"

namespace slim::test {

struct HfTensor {
  std::vector<int64_t> shape;
  std::vector<double> v;  // exactly representable in bf16
};

struct HfCheckpoint {
  nlohmann::json config;
  std::map<std::string, HfTensor> tensors;

  const HfTensor& at(const std::string& name) const {
    auto it = tensors.find(name);
    SLIM_CHECK(it != tensors.end(), "reference: no tensor '{}'", name);
    return it->second;
  }
  bool has(const std::string& name) const { return tensors.count(name) > 0; }

  // config.json + model.safetensors (bf16, or fp16 where torch_dtype says so) into dir.
  void write(const std::string& dir) const;
};

// Families: "llama", "qwen2" (q/k/v biases), "qwen3" (q/k norms, decoupled
// head_dim), "phi3" (fused qkv/gate_up, sliding window), "opt" (facebook/opt-125m layout), "opt350m" (post-norm,
// project_in/out), "gemma2" (google/gemma-2 layout), "gemma3" (google/gemma-3-1b, text-only).
HfCheckpoint make_hf_checkpoint(const std::string& family, uint32_t seed);

// logits (T, vocab), float64, of the checkpoint on `tokens` (positions 0..T-1).
std::vector<double> hf_reference_logits(const HfCheckpoint& ck, const std::vector<int>& tokens);

// Seeded normal tensors added to `ck`, rounded to the dtype its file will hold
// (config torch_dtype), so the reference computes on exactly the stored values.
struct RandomTensors {
  HfCheckpoint& ck;
  std::mt19937 rng;
  void operator()(const std::string& name, std::vector<int64_t> shape, double scale, double mean = 0);
};

// y (out) = W (out, in) x (+ b)
std::vector<double> ref_matvec(const HfTensor& W, const std::vector<double>& x, const HfTensor* b);

// Gemma-2/3 (tests/hf_reference_gemma.cc), reached through the two functions above.
HfCheckpoint make_gemma_checkpoint(const std::string& family, uint32_t seed);
std::vector<double> gemma_reference_logits(const HfCheckpoint& ck, const std::vector<int>& tokens);

}  // namespace slim::test
