#include "io/hf_checkpoint.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>

#include "io/hf_rope_scaling.h"
#include "model/arch.h"
#include "model/rope_layout.h"
#include "util/error.h"
#include "util/files.h"
#include "util/half.h"
#include "util/json_num.h"

namespace slim {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Ids and vocabulary sizes index dense tables (validate_config's bound).
constexpr int64_t kMaxId = 1 << 24;

template <typename T>
T get_or(const json& j, const char* key, T fallback, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    fail("{}: field '{}' has the wrong type ({})", path, key, it->type_name());
  }
}

// A token id, or -1 when absent; eos may be a list (the first is used).
int first_id(const json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return -1;
  if (it->is_array()) return it->empty() ? -1 : int(json_int((*it)[0], path, key, 0, kMaxId));
  return int(json_int(*it, path, key, 0, kMaxId));
}

// A size field: a positive int within validate_config's plausibility bounds.
int size_or(const json& j, const char* key, int64_t fallback, const std::string& path, int64_t hi) {
  return int(json_int_or(j, key, fallback, path, 1, hi));
}

// An optional string field; a number or object there is an error, not "absent".
std::string string_or(const json& j, const char* key, const std::string& fallback, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  SLIM_CHECK(it->is_string(), "{}: field '{}' must be a string, got {} {}", path, key, it->type_name(), it->dump());
  return it->get<std::string>();
}

}  // namespace

Tensor load_hf_tensor(const TensorSet& set, const std::string& name, int64_t rows, int64_t cols) {
  auto ref = set.find(name);
  SLIM_CHECK(ref.file != nullptr, "missing tensor '{}' in the model's safetensors files", name);
  const TensorInfo& t = *ref.info;
  const std::string& path = ref.file->path();
  bool shape_ok = (t.shape.size() == 2 && t.shape[0] == rows && t.shape[1] == cols) ||
                  (rows == 1 && t.shape.size() == 1 && t.shape[0] == cols);
  if (!shape_ok) {
    std::string got;
    for (auto s : t.shape) got += (got.empty() ? "" : ", ") + std::to_string(s);
    fail("{}: tensor '{}' has shape [{}], config.json implies [{}{}]", path, name, got,
         rows == 1 ? "" : std::to_string(rows) + ", ", cols);
  }
  auto bytes = ref.file->data(t);
  const size_t n = size_t(rows * cols);
  switch (t.dtype) {
    case DType::F32:
      if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) == 0)
        return Tensor::view(reinterpret_cast<const float*>(bytes.data()), rows, cols, ref.file->mapping());
      else {
        std::vector<float> v(n);
        std::memcpy(v.data(), bytes.data(), n * 4);
        return Tensor::from(std::move(v), rows, cols);
      }
    case DType::F16:
    case DType::BF16: {
      const ElemType et = t.dtype == DType::F16 ? ElemType::F16 : ElemType::BF16;
      // Matrices stay in the file's dtype, mapped in place (the dense16
      // kernels read them); vectors (norms, biases) are converted: the forward
      // pass reads them as fp32 and they are a tiny part of the model.
      if (rows > 1 && reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint16_t) == 0)
        return Tensor::view16(reinterpret_cast<const uint16_t*>(bytes.data()), et, rows, cols, ref.file->mapping());
      std::vector<uint16_t> raw(n);
      std::memcpy(raw.data(), bytes.data(), n * 2);  // the buffer may be unaligned
      if (rows > 1) return Tensor::from16(std::move(raw), et, rows, cols);
      std::vector<float> v(n);
      if (t.dtype == DType::F16)
        f16_to_f32(raw, v);
      else
        bf16_to_f32(raw, v);
      return Tensor::from(std::move(v), rows, cols);
    }
    default:
      fail("{}: tensor '{}' has dtype {}; weights must be F32, F16 or BF16", path, name, dtype_name(t.dtype));
  }
}


ModelConfig parse_hf_config(const std::string& path) {
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("{}: invalid JSON: {}", path, e.what());
  }
  SLIM_CHECK(j.is_object(), "{}: config.json must be a JSON object", path);
  std::string arch;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    arch = (*it)[0].get<std::string>();
  SLIM_CHECK(!arch.empty(), "{}: no 'architectures' entry", path);
  const ArchSpec* spec = find_arch(arch);
  SLIM_CHECK(spec != nullptr, "{}: architecture '{}' is not supported (supported: {})", path, arch,
             supported_archs());
  ModelConfig c;
  c.arch = arch;
  c.norm = spec->norm;
  c.mlp = spec->mlp;
  c.pos = spec->pos;
  c.qkv_bias = spec->qkv_bias;
  c.qk_norm = spec->qk_norm;
  // Missing sizes read as 0 and are refused by validate_config below.
  c.dim = size_or(j, "hidden_size", 0, path, 1 << 20);
  c.hidden_dim = size_or(j, "intermediate_size", 0, path, 1 << 22);
  c.n_layers = size_or(j, "num_hidden_layers", 0, path, 4096);
  c.n_heads = size_or(j, "num_attention_heads", 0, path, 4096);
  c.n_kv_heads = size_or(j, "num_key_value_heads", c.n_heads, path, 4096);
  c.head_dim = size_or(j, "head_dim", c.n_heads > 0 ? c.dim / c.n_heads : 0, path, 1 << 16);
  c.vocab_size = size_or(j, "vocab_size", 0, path, kMaxId);
  c.max_seq_len = size_or(j, "max_position_embeddings", 2048, path, 1 << 24);
  c.norm_eps = float(json_float_or(j, "rms_norm_eps", 1e-6, path, 1e-30, 0.5));
  c.rope_theta = float(json_float_or(j, "rope_theta", 10000.0, path, 1e-3, 1e12));
  c.tie_embeddings = get_or<bool>(j, "tie_word_embeddings", spec->default_tie, path);
  c.bos_id = first_id(j, "bos_token_id", path);
  c.eos_id = first_id(j, "eos_token_id", path);
  if (spec->uses_sliding_window && get_or<bool>(j, "use_sliding_window", true, path))
    c.sliding_window = int(json_int_or(j, "sliding_window", 0, path, 0, 1 << 24));
  if (auto it = j.find("rope_scaling"); it != j.end()) c.rope_scaling = parse_rope_scaling(*it, path);
  if (c.rope_scaling.type == RopeScalingType::Yarn && c.rope_scaling.factor == 0) {
    // transformers: without a factor, YaRN stretches the original context to max_position_embeddings.
    SLIM_CHECK(c.rope_scaling.original_max_pos > 0,
               "{}: rope_scaling type 'yarn' needs a 'factor' or 'original_max_position_embeddings'", path);
    c.rope_scaling.factor = double(c.max_seq_len) / c.rope_scaling.original_max_pos;
  }
  const std::string act = string_or(j, "hidden_act", "silu", path);
  SLIM_CHECK(act == "silu", "{}: hidden_act '{}' is not supported (LLaMA-family models use silu)", path, act);
  validate_config(c, path);
  return c;
}

Model load_hf_model(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  SLIM_CHECK(file_exists(cfg_path), "{}: no config.json in the model directory", dir);
  Model m;
  m.config = parse_hf_config(cfg_path);
  m.source = dir;
  m.format = "hf-safetensors";
  const ModelConfig& c = m.config;
  TensorSet set = TensorSet::open_dir(dir);
  if (auto r = set.find("model.embed_tokens.weight"); r.file) m.source_dtype = dtype_name(r.info->dtype);

  auto& w = m.weights;
  const int64_t d = c.dim, hd = c.hidden_dim, V = c.vocab_size;
  w.tok_embed = load_hf_tensor(set, "model.embed_tokens.weight", V, d);
  w.blocks.resize(size_t(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    auto& b = w.blocks[size_t(l)];
    auto T = [&](const std::string& leaf, int64_t r, int64_t cc) {
      return load_hf_tensor(set, hf_block_tensor(l, leaf), r, cc);
    };
    b.attn_norm = T("input_layernorm.weight", 1, d);
    b.wq.w = T("self_attn.q_proj.weight", c.q_dim(), d);
    b.wk.w = T("self_attn.k_proj.weight", c.kv_dim(), d);
    b.wv.w = T("self_attn.v_proj.weight", c.kv_dim(), d);
    if (c.qkv_bias) {
      b.wq.bias = T("self_attn.q_proj.bias", 1, c.q_dim());
      b.wk.bias = T("self_attn.k_proj.bias", 1, c.kv_dim());
      b.wv.bias = T("self_attn.v_proj.bias", 1, c.kv_dim());
    }
    if (c.qk_norm) {
      b.q_norm = T("self_attn.q_norm.weight", 1, c.head_dim);
      b.k_norm = T("self_attn.k_norm.weight", 1, c.head_dim);
    }
    b.wo.w = T("self_attn.o_proj.weight", d, c.q_dim());
    b.ffn_norm = T("post_attention_layernorm.weight", 1, d);
    b.w_gate.w = T("mlp.gate_proj.weight", hd, d);
    b.w_up.w = T("mlp.up_proj.weight", hd, d);
    b.w_down.w = T("mlp.down_proj.weight", d, hd);
  }
  w.final_norm = load_hf_tensor(set, "model.norm.weight", 1, d);
  // Some tied checkpoints still store lm_head.weight; prefer it when present.
  if (set.find("lm_head.weight").file)
    w.lm_head = load_hf_tensor(set, "lm_head.weight", V, d);
  else {
    SLIM_CHECK(c.tie_embeddings, "{}: missing tensor 'lm_head.weight' (and tie_word_embeddings is false)", dir);
    w.lm_head = w.tok_embed;
  }
  return m;
}

nlohmann::json hf_config_json(const ModelConfig& c, DType dtype) {
  std::string arch = c.arch == "llama2c" ? "LlamaForCausalLM" : c.arch;
  json cfg = {
      {"architectures", {arch}},
      {"model_type", hf_model_type(arch)},
      {"hidden_size", c.dim},
      {"intermediate_size", c.hidden_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_seq_len},
      {"rms_norm_eps", c.norm_eps},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", c.tie_embeddings},
      {"hidden_act", "silu"},
      {"torch_dtype", dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16"},
  };
  if (c.bos_id >= 0) cfg["bos_token_id"] = c.bos_id;
  if (c.eos_id >= 0) cfg["eos_token_id"] = c.eos_id;
  if (c.sliding_window > 0) cfg["sliding_window"] = c.sliding_window;
  if (c.rope_scaling.type != RopeScalingType::None) cfg["rope_scaling"] = rope_scaling_json(c.rope_scaling);

  return cfg;
}

std::vector<std::byte> tensor_bytes(const Tensor& t, DType dtype) {
  SLIM_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
             "weights can be stored as F32, F16 or BF16 only, not {}", dtype_name(dtype));
  std::vector<std::byte> bytes;
  const size_t n = size_t(t.numel());
  const DType have = t.type() == ElemType::F32 ? DType::F32 : t.type() == ElemType::F16 ? DType::F16 : DType::BF16;
  if (have == dtype) {  // stored as it is (a 16-bit source tensor keeps its exact bits)
    bytes.resize(size_t(t.bytes()));
    std::memcpy(bytes.data(), t.raw(), bytes.size());
    return bytes;
  }
  const Tensor f = t.to_f32();
  if (dtype == DType::F32) {
    bytes.resize(n * 4);
    std::memcpy(bytes.data(), f.data(), n * 4);
  } else {
    bytes.resize(n * 2);
    auto* dst = reinterpret_cast<uint16_t*>(bytes.data());
    for (size_t i = 0; i < n; ++i) dst[i] = dtype == DType::F16 ? f32_to_f16(f.data()[i]) : f32_to_bf16(f.data()[i]);
  }
  return bytes;
}

void save_hf_model(const Model& m, const std::string& dir, const HfSaveOptions& opt) {
  const ModelConfig& c = m.config;
  SLIM_CHECK(opt.dtype == DType::F32 || opt.dtype == DType::F16 || opt.dtype == DType::BF16,
             "{}: weights can be saved as F32, F16 or BF16 only", dir);
  const json cfg = hf_config_json(c, opt.dtype);

  // Converted tensors are kept alive here until the file is written.
  std::vector<std::vector<std::byte>> storage;
  std::vector<TensorToWrite> out;
  storage.reserve(16 + 16 * m.weights.blocks.size());
  auto add = [&](const std::string& name, const Tensor& t, bool vector) {
    storage.push_back(tensor_bytes(t, opt.dtype));
    std::vector<int64_t> shape = vector ? std::vector<int64_t>{t.cols()} : std::vector<int64_t>{t.rows(), t.cols()};
    out.push_back({name, opt.dtype, shape, storage.back()});
  };
  const bool inter = c.pos == PosKind::RopeInterleaved;
  auto rope = [&](const Tensor& t, int heads) {
    return inter ? rope_rows_interleaved_to_halves(t, heads, c.head_dim) : t;
  };
  const auto& w = m.weights;
  const bool rest = opt.part == -2 || opt.part == -1;
  if (rest) add("model.embed_tokens.weight", w.tok_embed, false);
  for (int l = 0; l < c.n_layers; ++l) {
    if (opt.part != -2 && opt.part != l) continue;
    const auto& b = w.blocks[size_t(l)];
    auto N = [&](const std::string& leaf) { return hf_block_tensor(l, leaf); };
    add(N("input_layernorm.weight"), b.attn_norm, true);
    add(N("self_attn.q_proj.weight"), rope(b.wq.w, c.n_heads), false);
    add(N("self_attn.k_proj.weight"), rope(b.wk.w, c.n_kv_heads), false);
    add(N("self_attn.v_proj.weight"), b.wv.w, false);
    if (c.qkv_bias) {
      SLIM_CHECK(!inter, "{}: interleaved RoPE with q/k biases is not a layout HF can express", dir);
      add(N("self_attn.q_proj.bias"), b.wq.bias, true);
      add(N("self_attn.k_proj.bias"), b.wk.bias, true);
      add(N("self_attn.v_proj.bias"), b.wv.bias, true);
    }
    if (c.qk_norm) {
      SLIM_CHECK(!inter, "{}: interleaved RoPE with q/k norms is not a layout HF can express", dir);
      add(N("self_attn.q_norm.weight"), b.q_norm, true);
      add(N("self_attn.k_norm.weight"), b.k_norm, true);
    }
    add(N("self_attn.o_proj.weight"), b.wo.w, false);
    add(N("post_attention_layernorm.weight"), b.ffn_norm, true);
    add(N("mlp.gate_proj.weight"), b.w_gate.w, false);
    add(N("mlp.up_proj.weight"), b.w_up.w, false);
    add(N("mlp.down_proj.weight"), b.w_down.w, false);
  }
  if (rest) add("model.norm.weight", w.final_norm, true);
  if (rest && !c.tie_embeddings) add("lm_head.weight", w.lm_head, false);
  auto meta = opt.metadata;
  meta.emplace("format", "pt");
  write_safetensors((fs::path(dir) / opt.file_name).string(), out, meta);
  if (rest) write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
}

}  // namespace slim
