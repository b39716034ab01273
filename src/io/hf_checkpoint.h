// Hugging Face model directories: config.json + model.safetensors (or shards
// listed by model.safetensors.index.json). Weight matrices stay in the file's
// dtype (F32, F16, BF16), mapped in place; vectors are converted to fp32.
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

// One tensor with the expected shape (`rows` == 1 accepts a 1-D tensor):
// matrices in the file's dtype, mapped in place when aligned; vectors as fp32.
// Errors name the file and tensor.
Tensor load_hf_tensor(const TensorSet& set, const std::string& name, int64_t rows, int64_t cols);

// config.json for `c` with weights stored as `dtype` (torch_dtype).
nlohmann::json hf_config_json(const ModelConfig& c, DType dtype);

// The bytes of `t` converted to F32, F16 or BF16.
std::vector<std::byte> tensor_bytes(const Tensor& t, DType dtype);

struct HfSaveOptions {
  DType dtype = DType::F32;                     // F32, F16 or BF16
  std::map<std::string, std::string> metadata;  // goes into the safetensors header
  // Which tensors (sharded output): every one (-2), those outside the blocks
  // plus config.json (-1), or decoder block `part`; into `file_name`.
  int part = -2;
  std::string file_name = "model.safetensors";
};
// Writes config.json and model.safetensors into `dir` (which must exist), in
// the HF layout (RoPE halves; wq/wk rows permuted if the model is interleaved).
void save_hf_model(const Model& m, const std::string& dir, const HfSaveOptions& opt = {});

}  // namespace slim
