// Hugging Face model directories: config.json + model.safetensors (or shards
// listed by model.safetensors.index.json). Tensors F32 (mapped in place), F16
// and BF16 (converted to fp32 at load: the forward pass computes in fp32).
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "io/safetensors.h"
#include "model/weights.h"

namespace slim {

// Parses config.json into a ModelConfig through the architecture table.
ModelConfig parse_hf_config(const std::string& config_json_path);

Model load_hf_model(const std::string& dir);

// One tensor as fp32 with the expected shape (`rows` == 1 accepts a 1-D
// tensor): F32 is mapped in place when aligned, F16/BF16 converted. Errors name
// the file and tensor.
Tensor load_hf_tensor(const TensorSet& set, const std::string& name, int64_t rows, int64_t cols);

// config.json for `c` with weights stored as `dtype` (torch_dtype).
nlohmann::json hf_config_json(const ModelConfig& c, DType dtype);

// The bytes of `t` converted to F32, F16 or BF16.
std::vector<std::byte> tensor_bytes(const Tensor& t, DType dtype);

struct HfSaveOptions {
  DType dtype = DType::F32;                     // F32, F16 or BF16
  std::map<std::string, std::string> metadata;  // goes into the safetensors header
};
// Writes config.json and model.safetensors into `dir` (which must exist), in
// the HF layout (RoPE halves; wq/wk rows permuted if the model is interleaved).
void save_hf_model(const Model& m, const std::string& dir, const HfSaveOptions& opt = {});

}  // namespace slim
