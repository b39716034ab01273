#include "io/hf_checkpoint.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>

#include "io/hf_hybrid_config.h"
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
  if (const char* why = refused_arch_reason(arch)) fail("{}: architecture '{}': {}", path, arch, why);
  SLIM_CHECK(spec != nullptr, "{}: architecture '{}' is not supported (supported: {})", path, arch,
             supported_archs());
  ModelConfig c;
  c.arch = arch;
  c.norm = spec->norm;
  c.mlp = spec->mlp;
  c.pos = spec->pos;
  c.qkv_bias = spec->qkv_bias;
  c.qk_norm = spec->qk_norm;
  c.sandwich_norm = spec->names->post_attn_norm != nullptr;
  const HfHybridKeys* hybrid = spec->hybrid;
  // Missing sizes read as 0 and are refused by validate_config below.
  const HfKeys& keys = *spec->keys;
  c.dim = size_or(j, "hidden_size", 0, path, 1 << 20);
  c.hidden_dim = size_or(j, keys.ffn_size, 0, path, 1 << 22);
  c.n_layers = size_or(j, "num_hidden_layers", 0, path, 4096);
  c.n_heads = size_or(j, "num_attention_heads", 0, path, 4096);
  c.n_kv_heads = size_or(j, "num_key_value_heads", c.n_heads, path, 4096);
  c.head_dim = size_or(j, "head_dim", hybrid ? hybrid->default_head_dim : c.n_heads > 0 ? c.dim / c.n_heads : 0, path,
                       1 << 16);
  c.vocab_size = size_or(j, "vocab_size", 0, path, kMaxId);
  c.max_seq_len = size_or(j, "max_position_embeddings", 2048, path, 1 << 24);
  c.norm_eps = keys.norm_eps ? float(json_float_or(j, keys.norm_eps, keys.default_eps, path, 1e-30, 0.5))
                             : float(keys.default_eps);
  c.rope_theta = float(json_float_or(j, "rope_theta", hybrid ? hybrid->default_rope_theta : 10000.0, path, 1e-3, 1e12));
  c.all_bias = spec->all_bias && get_or<bool>(j, "enable_bias", true, path);
  c.qkv_bias = spec->qkv_bias && (spec->all_bias ? c.all_bias : true);
  c.pos_offset = spec->pos_offset;
  // OPT: word_embed_proj_dim (OPT-350m: 512 embeddings into a 1024 model) and
  // post-norm blocks (do_layer_norm_before false), whose final norm is absent.
  if (const int e = size_or(j, "word_embed_proj_dim", c.dim, path, 1 << 20); e != c.dim) c.embed_dim = e;
  c.norm_before = get_or<bool>(j, "do_layer_norm_before", true, path);
  c.final_norm = c.norm_before && !get_or<bool>(j, "_remove_final_layer_norm", false, path);
  SLIM_CHECK(get_or<bool>(j, "layer_norm_elementwise_affine", true, path),
             "{}: layer_norm_elementwise_affine false is not supported", path);
  c.tie_embeddings = get_or<bool>(j, "tie_word_embeddings", spec->default_tie, path);
  c.bos_id = first_id(j, "bos_token_id", path);
  c.eos_id = first_id(j, "eos_token_id", path);
  if (spec->uses_sliding_window && get_or<bool>(j, "use_sliding_window", true, path))
    c.sliding_window = int(json_int_or(j, "sliding_window", 0, path, 0, 1 << 24));
  if (hybrid) parse_hybrid_config(j, *hybrid, path, c);
  // LLaMA-style "attention_bias" puts biases on q/k/v and o; only the q/k/v biases of the rows that have them are read.
  SLIM_CHECK(spec->qkv_bias || !get_or<bool>(j, "attention_bias", false, path),
             "{}: attention_bias true is not supported for {} (no bias tensors are read)", path, arch);
  if (auto it = j.find("rope_scaling"); it != j.end()) c.rope_scaling = parse_rope_scaling(*it, path);
  if (c.rope_scaling.type == RopeScalingType::Yarn && c.rope_scaling.factor == 0) {
    // transformers: without a factor, YaRN stretches the original context to max_position_embeddings.
    SLIM_CHECK(c.rope_scaling.original_max_pos > 0,
               "{}: rope_scaling type 'yarn' needs a 'factor' or 'original_max_position_embeddings'", path);
    c.rope_scaling.factor = double(c.max_seq_len) / c.rope_scaling.original_max_pos;
  }
  // Phi-4-mini, GPT-NeoX style partial rotary: not implemented, so refused rather than run wrong.
  if (const double prf = json_float_or(j, "partial_rotary_factor", 1.0, path, 0.0, 1.0); prf != 1.0)
    fail("{}: partial_rotary_factor {} is not supported (only full rotary embeddings)", path, prf);
  const std::string act = string_or(j, keys.activation, keys.act_value, path);
  SLIM_CHECK(act == keys.act_value, "{}: {} '{}' is not supported ({} models use {})", path, keys.activation, act,
             arch, keys.act_value);
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
  const ArchSpec& arch = arch_of(c);
  const HfNames& nm = *arch.names;
  TensorSet set = TensorSet::open_dir(dir);
  // The facebook/opt-* files name their tensors "decoder...." where
  // transformers' modules say "model.decoder....": both are read.
  const std::string embed_name = std::string(nm.embed) + ".weight";
  const bool no_root = !set.find(embed_name).file && set.find(embed_name.substr(6)).file;
  auto name = [&](const std::string& n) { return no_root && n.starts_with("model.") ? n.substr(6) : n; };
  auto W = [&](const std::string& stem, int64_t r, int64_t cc) { return load_hf_tensor(set, name(stem + ".weight"), r, cc); };
  auto B = [&](const std::string& stem, int64_t n) { return load_hf_tensor(set, name(stem + ".bias"), 1, n); };
  if (auto r = set.find(name(embed_name)); r.file) m.source_dtype = dtype_name(r.info->dtype);

  auto& w = m.weights;
  const int64_t d = c.dim, e = c.embed_width(), V = c.vocab_size;
  w.tok_embed = W(nm.embed, V, e);
  if (c.pos == PosKind::Learned) w.pos_embed = W(nm.pos_embed, c.max_seq_len + c.pos_offset, d);
  if (e != d) {
    w.project_in.w = W(nm.project_in, d, e);
    w.project_out.w = W(nm.project_out, e, d);
  }
  w.blocks.resize(size_t(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    auto& b = w.blocks[size_t(l)];
    auto N = [&](const char* leaf) { return hf_block_name(arch, l, leaf); };
    b.has_gate = has_gate_of(c);
    b.attn_norm = W(N(nm.attn_norm), 1, d);
    b.ffn_norm = W(N(nm.ffn_norm), 1, d);
    if (c.sandwich_norm) {
      b.attn_post_norm = W(N(nm.post_attn_norm), 1, d);
      b.ffn_post_norm = W(N(nm.post_ffn_norm), 1, d);
    }
    if (c.all_bias) {
      b.attn_norm_bias = B(N(nm.attn_norm), d);
      b.ffn_norm_bias = B(N(nm.ffn_norm), d);
    }
    if (c.qk_norm) {
      b.q_norm = W(N(nm.q_norm), 1, c.head_dim);
      b.k_norm = W(N(nm.k_norm), 1, c.head_dim);
    }
    if (nm.fused_qkv) {  // Phi-3: rows q | k | v, and gate | up, split as views
      const int64_t q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim;
      const Tensor qkv = W(N(nm.fused_qkv), q + 2 * kv, d);
      b.wq.w = qkv.rows_view(0, q);
      b.wk.w = qkv.rows_view(q, q + kv);
      b.wv.w = qkv.rows_view(q + kv, q + 2 * kv);
      const Tensor gate_up = W(N(nm.fused_gate_up), 2 * h, d);
      b.w_gate.w = gate_up.rows_view(0, h);
      b.w_up.w = gate_up.rows_view(h, 2 * h);
    }
    for (auto& ref : b.linears()) {
      if (!ref.linear->w.empty()) continue;  // split from a fused matrix above
      const auto [rows, cols] = linear_shape(c, ref.name);
      const std::string stem = N(hf_linear_leaf(arch, ref.name));
      ref.linear->w = W(stem, rows, cols);
      if (linear_has_bias(c, ref.site)) ref.linear->bias = B(stem, rows);
    }
  }
  if (c.final_norm) {
    w.final_norm = W(nm.final_norm, 1, d);
    if (c.all_bias) w.final_norm_bias = B(nm.final_norm, d);
  }
  // Some tied checkpoints still store lm_head.weight; prefer it when present.
  if (set.find("lm_head.weight").file)
    w.lm_head = load_hf_tensor(set, "lm_head.weight", V, e);
  else {
    SLIM_CHECK(c.tie_embeddings, "{}: missing tensor 'lm_head.weight' (and tie_word_embeddings is false)", dir);
    w.lm_head = w.tok_embed;
  }
  return m;
}

nlohmann::json hf_config_json(const ModelConfig& c, DType dtype) {
  std::string arch = c.arch == "llama2c" ? "LlamaForCausalLM" : c.arch;
  const ArchSpec& spec = arch_of(c);
  const HfKeys& keys = *spec.keys;
  json cfg = {
      {"architectures", {arch}},
      {"model_type", spec.model_type},
      {"hidden_size", c.dim},
      {keys.ffn_size, c.hidden_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_seq_len},
      {"tie_word_embeddings", c.tie_embeddings},
      {keys.activation, keys.act_value},
      {"torch_dtype", dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16"},
  };
  if (keys.norm_eps) cfg[keys.norm_eps] = c.norm_eps;
  if (c.pos != PosKind::Learned) {
    cfg["num_key_value_heads"] = c.n_kv_heads;
    cfg["head_dim"] = c.head_dim;
    cfg["rope_theta"] = c.rope_theta;
  } else {  // OPT's own keys
    cfg["word_embed_proj_dim"] = c.embed_width();
    cfg["do_layer_norm_before"] = c.norm_before;
    cfg["enable_bias"] = c.all_bias;
    if (c.norm_before && !c.final_norm) cfg["_remove_final_layer_norm"] = true;
  }
  if (c.bos_id >= 0) cfg["bos_token_id"] = c.bos_id;
  if (c.eos_id >= 0) cfg["eos_token_id"] = c.eos_id;
  if (c.sliding_window > 0) cfg["sliding_window"] = c.sliding_window;
  if (spec.hybrid) write_hybrid_config(c, *spec.hybrid, cfg);
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
  const ArchSpec& arch = arch_of(c);
  const HfNames& nm = *arch.names;
  const std::string wt = ".weight", bs = ".bias";
  const bool rest = opt.part == -2 || opt.part == -1;
  if (rest) {
    add(nm.embed + wt, w.tok_embed, false);
    if (!w.pos_embed.empty()) add(nm.pos_embed + wt, w.pos_embed, false);
    if (!w.project_in.w.empty()) add(nm.project_in + wt, w.project_in.w, false);
    if (!w.project_out.w.empty()) add(nm.project_out + wt, w.project_out.w, false);
  }
  for (int l = 0; l < c.n_layers; ++l) {
    if (opt.part != -2 && opt.part != l) continue;
    auto b = w.blocks[size_t(l)];  // a copy of views: linears() needs a mutable object
    auto N = [&](const char* leaf) { return hf_block_name(arch, l, leaf); };
    add(N(nm.attn_norm) + wt, b.attn_norm, true);
    if (!b.attn_norm_bias.empty()) add(N(nm.attn_norm) + bs, b.attn_norm_bias, true);
    if (c.qk_norm) {
      SLIM_CHECK(!inter, "{}: interleaved RoPE with q/k norms is not a layout HF can express", dir);
      add(N(nm.q_norm) + wt, b.q_norm, true);
      add(N(nm.k_norm) + wt, b.k_norm, true);
    }
    add(N(nm.ffn_norm) + wt, b.ffn_norm, true);
    if (!b.ffn_norm_bias.empty()) add(N(nm.ffn_norm) + bs, b.ffn_norm_bias, true);
    if (c.sandwich_norm) {
      add(N(nm.post_attn_norm) + wt, b.attn_post_norm, true);
      add(N(nm.post_ffn_norm) + wt, b.ffn_post_norm, true);
    }
    if (nm.fused_qkv) {  // Phi-3: the split linears go back into one matrix each, rows in order
      auto fused = [&](const std::string& tensor_name, std::initializer_list<Tensor> parts) {
        std::vector<std::byte> bytes;
        int64_t rows = 0;
        for (const Tensor& p : parts) {
          const auto piece = tensor_bytes(p, opt.dtype);
          bytes.insert(bytes.end(), piece.begin(), piece.end());
          rows += p.rows();
        }
        storage.push_back(std::move(bytes));
        out.push_back({tensor_name, opt.dtype, {rows, c.dim}, storage.back()});
      };
      fused(N(nm.fused_qkv) + wt, {b.wq.w, b.wk.w, b.wv.w});
      fused(N(nm.fused_gate_up) + wt, {b.w_gate.w, b.w_up.w});
    }
    for (const auto& ref : b.linears()) {
      const std::string name = ref.name;
      if (nm.fused_qkv && name != "o_proj" && name != "down_proj") continue;  // written fused above
      const std::string stem = N(hf_linear_leaf(arch, ref.name));
      const Tensor& t = ref.linear->w;
      add(stem + wt, name == "q_proj" ? rope(t, c.n_heads) : name == "k_proj" ? rope(t, c.n_kv_heads) : t, false);
      if (!ref.linear->bias.empty()) {
        SLIM_CHECK(!inter || ref.site != InputSite::AttnIn,
                   "{}: interleaved RoPE with q/k biases is not a layout HF can express", dir);
        add(stem + bs, ref.linear->bias, true);
      }
    }
  }
  if (rest && c.final_norm) {
    add(nm.final_norm + wt, w.final_norm, true);
    if (!w.final_norm_bias.empty()) add(nm.final_norm + bs, w.final_norm_bias, true);
  }
  if (rest && !c.tie_embeddings) add("lm_head.weight", w.lm_head, false);
  auto meta = opt.metadata;
  meta.emplace("format", "pt");
  write_safetensors((fs::path(dir) / opt.file_name).string(), out, meta);
  if (rest) write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
}

}  // namespace slim
