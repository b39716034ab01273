#include "pack/packed_model.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fmt/ranges.h>

#include "io/hf_checkpoint.h"
#include "io/safetensors.h"
#include "model/arch.h"
#include "pack/packed_kernels.h"
#include "pack/packed_linear.h"
#include "util/error.h"
#include "util/files.h"

namespace slim {
namespace fs = std::filesystem;

namespace {

// The file always holds the HF row order (RoPE halves). A model loaded from
// llama2.c rotates interleaved pairs, so its wq/wk rows are permuted on the
// way out, as save_hf_model does: halves row -> interleaved source row.
std::vector<int64_t> halves_source_rows(int n_heads, int head_dim) {
  const int half = head_dim / 2;
  std::vector<int64_t> src(size_t(n_heads) * size_t(head_dim));
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int s = 0; s < 2; ++s)
        src[size_t(h * head_dim + s * half + i)] = int64_t(h) * head_dim + 2 * i + s;
  return src;
}

std::span<const std::byte> as_bytes_span(const void* p, size_t n) { return {static_cast<const std::byte*>(p), n}; }

// Encodes one fake-quantized linear from its quantizer parameters and checks
// that it dequantizes to exactly the same weights.
PackedLinear encode_linear(const Linear& L, const LinearQuantParams& p, std::span<const int64_t> row_src, int layer) {
  const int64_t rows = L.out(), cols = L.in(), G = n_groups(cols, p.group_size), gw = group_width(cols, p.group_size);
  SLIM_CHECK(!L.packed && L.w.numel() == rows * cols, "layer {} {}: no dense weights to pack", layer, p.name);
  SLIM_CHECK(int64_t(p.group_bits.size()) == G && int64_t(p.params.size()) == rows * G,
             "layer {} {}: quantizer parameters do not match the weight shape ({} x {}, group {})", layer, p.name,
             rows, cols, p.group_size);
  auto src = [&](int64_t r) { return row_src.empty() ? r : row_src[size_t(r)]; };
  std::vector<uint8_t> codes(size_t(rows * cols));      // (rows, cols)
  std::vector<QuantParams> params(size_t(rows * G));    // (rows, G)
  for (int64_t r = 0; r < rows; ++r) {
    const float* w = L.w.row(src(r));  // (cols) fake-quantized
    for (int64_t g = 0; g < G; ++g) {
      const QuantParams& qp = p.params[size_t(src(r) * G + g)];
      params[size_t(r * G + g)] = qp;
      for (int64_t c = g * gw; c < std::min(cols, (g + 1) * gw); ++c)
        codes[size_t(r * cols + c)] = uint8_t(quant_code(w[c], qp, p.group_bits[size_t(g)]));
    }
  }
  PackedLinear pl = PackedLinear::encode(rows, cols, p.group_size, p.group_bits, codes, params);
  std::vector<float> deq(static_cast<size_t>(cols));  // (cols)
  for (int64_t r = 0; r < rows; ++r) {
    pl.dequantize_rows_reference(r, r + 1, deq.data(), cols);
    const float* w = L.w.row(src(r));
    if (std::memcmp(deq.data(), w, size_t(cols) * sizeof(float)) != 0)
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t g = c / gw;
        const QuantParams& qp = p.params[size_t(src(r) * G + g)];
        SLIM_CHECK(deq[size_t(c)] == w[c],
                   "layer {} {}: packed weight ({}, {}) dequantizes to {} but the quantized model has {} "
                   "(group {}: {} bits, scale {}, zero {}); the parameters and weights disagree",
                   layer, p.name, r, c, deq[size_t(c)], w[c], g, p.group_bits[size_t(g)], qp.scale, qp.zero);
      }
  }
  return pl;
}

int64_t parse_int(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  SLIM_CHECK(it != meta.end(), "{}: metadata entry '{}' is missing", path, key);
  try {
    size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    SLIM_CHECK(used == it->second.size(), "");
    return v;
  } catch (...) {
    fail("{}: metadata entry '{}' = '{}' is not an integer", path, key, it->second);
  }
}

// A group size from the metadata: -1 (one group per row) or 1..2^20.
int parse_group_size(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  const int64_t g = parse_int(meta, key, path);
  SLIM_CHECK(g == -1 || (g >= 1 && g <= (1 << 20)), "{}: invalid {} {}", path, key, g);
  return int(g);
}

// Keeps the mapping alive as long as any packed linear of the model.
struct MappedLinear {
  std::shared_ptr<const SafetensorsFile> file;
  PackedLinear linear;
};

// The shard holding `name` (every part of a packed linear lives in one shard).
std::shared_ptr<const SafetensorsFile> shard_of(const TensorSet& set, const std::string& name, const std::string& dir) {
  const auto ref = set.find(name);
  SLIM_CHECK(ref.file != nullptr, "{}: missing tensor '{}'", dir, name);
  for (const auto& f : set.files())
    if (f.get() == ref.file) return f;
  fail("internal: {}: tensor '{}' without its file", dir, name);
}

std::shared_ptr<const PackedLinear> load_linear(const TensorSet& set, const std::string& dir,
                                                const std::string& prefix, int64_t rows, int64_t cols,
                                                int group_size) {
  const std::shared_ptr<const SafetensorsFile> file = shard_of(set, prefix + ".qweight", dir);
  const std::string& path = file->path();
  auto get = [&](const char* suffix, DType dtype, std::vector<int64_t> shape) -> std::span<const std::byte> {
    const std::string name = prefix + suffix;
    const TensorInfo* t = file->find(name);
    SLIM_CHECK(t != nullptr, "{}: missing tensor '{}'", path, name);
    SLIM_CHECK(t->dtype == dtype, "{}: tensor '{}' has dtype {}, expected {}", path, name, dtype_name(t->dtype),
               dtype_name(dtype));
    bool ok = t->shape.size() == shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || t->shape[i] == shape[i];
    SLIM_CHECK(ok, "{}: tensor '{}' has shape [{}], expected [{}] ({} x {} linear, group size {})", path, name,
               fmt::join(t->shape, ", "), fmt::join(shape, ", "), rows, cols, group_size);
    auto bytes = file->data(*t);
    SLIM_CHECK(reinterpret_cast<uintptr_t>(bytes.data()) % dtype_size(dtype) == 0,
               "{}: tensor '{}' is not aligned to its element size (not written by slim?)", path, name);
    return bytes;
  };
  const int64_t G = n_groups(cols, group_size);
  auto bits = get(".group_bits", DType::U8, {G});
  auto codes = get(".qweight", DType::U8, {rows, -1});
  auto scales = get(".scales", DType::F16, {rows, G});
  auto zeros = get(".qzeros", DType::U8, {rows, -1});
  auto offsets = get(".offsets", DType::F16, {rows, -1});
  auto u8 = [](std::span<const std::byte> b) { return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()); };
  auto u16 = [](std::span<const std::byte> b) {
    return std::span<const uint16_t>(reinterpret_cast<const uint16_t*>(b.data()), b.size() / 2);
  };
  PackedParts parts{rows, cols, group_size, u8(bits), u8(codes), u16(scales), u8(zeros), u16(offsets)};
  auto holder = std::make_shared<MappedLinear>();
  holder->file = file;
  try {
    holder->linear = PackedLinear::from_parts(parts);
  } catch (const Error& e) {
    fail("{}: packed linear '{}': {}", path, prefix, e.what());
  }
  return std::shared_ptr<const PackedLinear>(holder, &holder->linear);
}

}  // namespace

void save_packed_model(const Model& m, std::span<const LinearQuantParams> params, const PackedSaveOptions& opt,
                       const std::string& dir) {
  const ModelConfig& c = m.config;
  DType dense = DType::F32;
  SLIM_CHECK(parse_dtype(opt.source_dtype, &dense) &&
                 (dense == DType::F32 || dense == DType::F16 || dense == DType::BF16),
             "{}: unquantized tensors can be stored as F32, F16 or BF16, not '{}'", dir, opt.source_dtype);
  const bool inter = c.pos == PosKind::RopeInterleaved;
  SLIM_CHECK(!(inter && c.qkv_bias), "{}: interleaved RoPE with q/k biases is not a layout HF can express", dir);
  std::map<std::pair<int, std::string>, const LinearQuantParams*> by_linear;
  for (const auto& p : params) by_linear[{p.layer, p.name}] = &p;
  SLIM_CHECK(params.empty() || by_linear.size() == params.size(), "{}: duplicate linear in the quantizer parameters", dir);
  int group_size = params.empty() ? opt.group_size : params[0].group_size;
  const bool rest = opt.part == kAllParts || opt.part == kRestPart;
  auto want_block = [&](int l) { return opt.part == kAllParts || opt.part == l; };
  for (const auto& p : params)
    SLIM_CHECK(p.group_size == group_size, "{}: every linear must share one group size ({} vs {})", dir, p.group_size,
               group_size);

  std::vector<std::vector<std::byte>> dense_bytes;  // converted tensors, alive until written
  std::vector<PackedLinear> packed;
  dense_bytes.reserve(8 + 8 * c.n_layers);
  packed.reserve(size_t(7 * c.n_layers + 2));
  std::vector<TensorToWrite> out;
  auto add_dense = [&](const std::string& name, const Tensor& t, bool vector, std::span<const int64_t> rows = {}) {
    Tensor src = t;
    if (!rows.empty()) {  // RoPE row order
      SLIM_CHECK(t.is_f32(), "{}: {}: RoPE row reordering of a 16-bit tensor", dir, name);
      std::vector<float> v(size_t(t.numel()));
      for (size_t r = 0; r < rows.size(); ++r)
        std::memcpy(&v[r * size_t(t.cols())], t.row(rows[r]), size_t(t.cols()) * sizeof(float));
      src = Tensor::from(std::move(v), t.rows(), t.cols());
    }
    dense_bytes.push_back(tensor_bytes(src, dense));
    std::vector<int64_t> shape = vector ? std::vector<int64_t>{t.cols()} : std::vector<int64_t>{t.rows(), t.cols()};
    out.push_back({name, dense, shape, dense_bytes.back()});
  };

  auto add_packed = [&](const std::string& prefix, const PackedLinear& pl) {
    const PackedParts& p = pl.parts();
    auto n_of = [](auto s) { return int64_t(s.size()); };
    const int64_t R = p.rows;
    out.push_back({prefix + ".qweight", DType::U8, {R, n_of(p.codes) / R}, as_bytes_span(p.codes.data(), p.codes.size())});
    out.push_back({prefix + ".scales", DType::F16, {R, n_of(p.scales) / R}, as_bytes_span(p.scales.data(), p.scales.size() * 2)});
    out.push_back({prefix + ".qzeros", DType::U8, {R, n_of(p.zeros) / R}, as_bytes_span(p.zeros.data(), p.zeros.size())});
    out.push_back({prefix + ".offsets", DType::F16, {R, n_of(p.offsets) / R},
                   as_bytes_span(p.offsets.data(), p.offsets.size() * 2)});
    out.push_back({prefix + ".group_bits", DType::U8, {n_of(p.group_bits)},
                   as_bytes_span(p.group_bits.data(), p.group_bits.size())});
  };

  const auto& w = m.weights;
  const ArchSpec& arch = arch_of(c);
  const HfNames& nm = *arch.names;
  const std::string wt = ".weight", bs = ".bias";
  std::map<std::string, std::string> meta = opt.metadata;
  // Output head and embedding: dense, packed now by RTN (head_bits /
  // embed_bits), or copied when the model was loaded packed.
  auto add_rtn_packed = [&](const std::string& prefix, const Tensor& t16, int bits, const char* what) {
    SLIM_CHECK(!t16.empty(), "{}: the {} is already packed; repack it from a model where it is dense", dir, what);
    const Tensor t = t16.to_f32();
    LinearQuantParams hp{-1, prefix, opt.head_group_size, {}, {}};
    std::vector<float> q(size_t(t.numel()));  // (rows, cols)
    rtn_quantize(t.data(), t.rows(), t.cols(), bits, opt.head_group_size, q.data(), &hp.params);
    hp.group_bits.assign(size_t(n_groups(t.cols(), opt.head_group_size)), bits);
    packed.push_back(encode_linear(Linear{Tensor::from(std::move(q), t.rows(), t.cols()), {}, nullptr}, hp, {}, -1));
    add_packed(prefix, packed.back());
    return packed.back().parts().group_size;
  };
  const PackedLinear* embed_packed = w.tok_embed_packed.get();
  if (!rest) {
  } else if (opt.embed_bits > 0) {
    meta["slim.embed_group_size"] = std::to_string(add_rtn_packed(nm.embed, w.tok_embed, opt.embed_bits, "embedding"));
    embed_packed = &packed.back();
  } else if (w.tok_embed_packed) {
    add_packed(nm.embed, *w.tok_embed_packed);
    meta["slim.embed_group_size"] = std::to_string(w.tok_embed_packed->parts().group_size);
  } else {
    add_dense(nm.embed + wt, w.tok_embed, false);
  }
  if (rest) {
    if (!w.pos_embed.empty()) add_dense(nm.pos_embed + wt, w.pos_embed, false);
    if (!w.project_in.w.empty()) add_dense(nm.project_in + wt, w.project_in.w, false);
    if (!w.project_out.w.empty()) add_dense(nm.project_out + wt, w.project_out.w, false);
  }
  const auto q_rows = inter ? halves_source_rows(c.n_heads, c.head_dim) : std::vector<int64_t>{};
  const auto k_rows = inter ? halves_source_rows(c.n_kv_heads, c.head_dim) : std::vector<int64_t>{};
  for (int l = 0; l < c.n_layers; ++l) {
    if (!want_block(l)) continue;
    auto& b = const_cast<BlockWeights&>(w.blocks[size_t(l)]);  // linears() is non-const; nothing is modified
    auto N = [&](const char* leaf) { return hf_block_name(arch, l, leaf); };
    add_dense(N(nm.attn_norm) + wt, b.attn_norm, true);
    add_dense(N(nm.ffn_norm) + wt, b.ffn_norm, true);
    if (c.sandwich_norm) {
      add_dense(N(nm.post_attn_norm) + wt, b.attn_post_norm, true);
      add_dense(N(nm.post_ffn_norm) + wt, b.ffn_post_norm, true);
    }
    if (!b.attn_norm_bias.empty()) add_dense(N(nm.attn_norm) + bs, b.attn_norm_bias, true);
    if (!b.ffn_norm_bias.empty()) add_dense(N(nm.ffn_norm) + bs, b.ffn_norm_bias, true);
    if (c.qk_norm) {
      SLIM_CHECK(!inter, "{}: interleaved RoPE with q/k norms is not a layout HF can express", dir);
      add_dense(N(nm.q_norm) + wt, b.q_norm, true);
      add_dense(N(nm.k_norm) + wt, b.k_norm, true);
    }
    for (const auto& ref : b.linears()) {
      const std::string name = ref.name, prefix = N(hf_linear_leaf(arch, name));
      if (ref.linear->packed) {  // a loaded packed model (slim pack): copied as it is
        const int gs = ref.linear->packed->parts().group_size;
        SLIM_CHECK(params.empty() || gs == group_size, "{}: layer {} {} has group size {}, others {}", dir, l, name, gs,
                   group_size);
        group_size = gs;
        add_packed(prefix, *ref.linear->packed);
      } else {
        auto it = by_linear.find({l, ref.name});
        SLIM_CHECK(it != by_linear.end(), "{}: no quantizer parameters for layer {} {}", dir, l, ref.name);
        std::span<const int64_t> rows = name == "q_proj" ? std::span<const int64_t>(q_rows)
                                        : name == "k_proj" ? std::span<const int64_t>(k_rows)
                                                           : std::span<const int64_t>();
        packed.push_back(encode_linear(*ref.linear, *it->second, rows, l));
        add_packed(prefix, packed.back());
      }
      if (!ref.linear->bias.empty()) add_dense(prefix + ".bias", ref.linear->bias, true);
    }
  }
  if (rest && c.final_norm) {
    add_dense(nm.final_norm + wt, w.final_norm, true);
    if (!w.final_norm_bias.empty()) add_dense(nm.final_norm + bs, w.final_norm_bias, true);
  }
  const bool head_is_embed = c.tie_embeddings && (w.lm_head_packed == nullptr || w.lm_head_packed == w.tok_embed_packed);
  if (!rest) {
  } else if (opt.head_bits > 0) {
    meta["slim.head_group_size"] = std::to_string(add_rtn_packed("lm_head", w.lm_head, opt.head_bits, "output head"));
    meta["slim.head_bits"] = std::to_string(opt.head_bits);
  } else if (head_is_embed && embed_packed) {
    // Tied: the loader points the head at the packed embedding; nothing to store.
  } else if (w.lm_head_packed) {
    add_packed("lm_head", *w.lm_head_packed);
    meta["slim.head_bits"] = std::to_string(int(w.lm_head_packed->parts().group_bits[0]));
    meta["slim.head_group_size"] = std::to_string(w.lm_head_packed->parts().group_size);
  } else if (!c.tie_embeddings) {
    add_dense("lm_head.weight", w.lm_head, false);
  }
  // Wide elements first: the data buffer starts 8-aligned and tensors are back
  // to back, so this keeps every tensor aligned for its dtype when mapped.
  std::stable_sort(out.begin(), out.end(),
                   [](const TensorToWrite& a, const TensorToWrite& b) { return dtype_size(a.dtype) > dtype_size(b.dtype); });

  if (opt.embed_bits > 0) meta["slim.embed_bits"] = std::to_string(opt.embed_bits);
  meta["format"] = kPackedFormat;
  meta["slim.format_version"] = std::to_string(kPackedFormatVersion);
  meta["slim.source_dtype"] = opt.source_dtype;
  meta["slim.group_size"] = std::to_string(group_size);
  write_safetensors((fs::path(dir) / opt.file_name).string(), out, meta);
  if (rest) write_file_atomic((fs::path(dir) / "config.json").string(), hf_config_json(c, dense).dump(2) + "\n");
}

bool is_packed_model_dir(const std::string& dir) {
  return file_exists((fs::path(dir) / kPackedFileName).string()) ||
         file_exists((fs::path(dir) / kPackedIndexName).string());
}

Model load_packed_model(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  SLIM_CHECK(file_exists(cfg_path), "{}: no config.json in the packed model directory", dir);
  Model m;
  m.config = parse_hf_config(cfg_path);
  m.source = dir;
  m.format = kPackedFormat;
  const ModelConfig& c = m.config;
  // One file, or shards (written as the blocks finish) with an index; every
  // shard carries the same format metadata: it is read from the first.
  TensorSet set = TensorSet::open_dir(dir, kPackedFileName, kPackedIndexName);
  const auto& file = set.files().at(0);
  const std::string path = file->path();
  const auto& meta = file->metadata();
  auto fmt_it = meta.find("format");
  SLIM_CHECK(fmt_it != meta.end() && fmt_it->second == kPackedFormat,
             "{}: not a slim-packed file (metadata 'format' is '{}')", path,
             fmt_it == meta.end() ? "" : fmt_it->second);
  const int64_t version = parse_int(meta, "slim.format_version", path);
  SLIM_CHECK(version == kPackedFormatVersion,
             "{}: slim-packed format version {}; this build reads version {} (upgrade slim)", path, version,
             kPackedFormatVersion);
  const int group_size = parse_group_size(meta, "slim.group_size", path);
  if (auto it = meta.find("slim.source_dtype"); it != meta.end()) m.source_dtype = it->second;

  auto& w = m.weights;
  const ArchSpec& arch = arch_of(c);
  const HfNames& nm = *arch.names;
  const std::string wt = ".weight", bs = ".bias";
  const int64_t d = c.dim, e = c.embed_width(), V = c.vocab_size;
  if (set.find(nm.embed + std::string(".qweight")).file) {
    w.tok_embed_packed = load_linear(set, dir, nm.embed, V, e, parse_group_size(meta, "slim.embed_group_size", path));
  } else {
    w.tok_embed = load_hf_tensor(set, nm.embed + wt, V, e);
  }
  if (c.pos == PosKind::Learned) w.pos_embed = load_hf_tensor(set, nm.pos_embed + wt, c.max_seq_len + c.pos_offset, d);
  if (e != d) {
    w.project_in.w = load_hf_tensor(set, nm.project_in + wt, d, e);
    w.project_out.w = load_hf_tensor(set, nm.project_out + wt, e, d);
  }
  w.blocks.resize(size_t(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    auto& b = w.blocks[size_t(l)];
    auto N = [&](const char* leaf) { return hf_block_name(arch, l, leaf); };
    b.has_gate = has_gate_of(c);
    b.attn_norm = load_hf_tensor(set, N(nm.attn_norm) + wt, 1, d);
    b.ffn_norm = load_hf_tensor(set, N(nm.ffn_norm) + wt, 1, d);
    if (c.sandwich_norm) {
      b.attn_post_norm = load_hf_tensor(set, N(nm.post_attn_norm) + wt, 1, d);
      b.ffn_post_norm = load_hf_tensor(set, N(nm.post_ffn_norm) + wt, 1, d);
    }
    if (c.all_bias) {
      b.attn_norm_bias = load_hf_tensor(set, N(nm.attn_norm) + bs, 1, d);
      b.ffn_norm_bias = load_hf_tensor(set, N(nm.ffn_norm) + bs, 1, d);
    }
    if (c.qk_norm) {
      b.q_norm = load_hf_tensor(set, N(nm.q_norm) + wt, 1, c.head_dim);
      b.k_norm = load_hf_tensor(set, N(nm.k_norm) + wt, 1, c.head_dim);
    }
    for (const auto& ref : b.linears()) {
      const auto [rows, cols] = linear_shape(c, ref.name);
      const std::string prefix = N(hf_linear_leaf(arch, ref.name));
      ref.linear->packed = load_linear(set, dir, prefix, rows, cols, group_size);
      if (linear_has_bias(c, ref.site)) ref.linear->bias = load_hf_tensor(set, prefix + bs, 1, rows);
    }
  }
  if (c.final_norm) {
    w.final_norm = load_hf_tensor(set, nm.final_norm + wt, 1, d);
    if (c.all_bias) w.final_norm_bias = load_hf_tensor(set, nm.final_norm + bs, 1, d);
  }
  if (set.find("lm_head.qweight").file) {
    w.lm_head_packed = load_linear(set, dir, "lm_head", V, e, parse_group_size(meta, "slim.head_group_size", path));
  }
  if (set.find("lm_head.weight").file)
    w.lm_head = load_hf_tensor(set, "lm_head.weight", V, e);
  else if (c.tie_embeddings && !w.lm_head_packed) {
    w.lm_head = w.tok_embed;
    w.lm_head_packed = w.tok_embed_packed;  // tied and packed: the head reads the packed embedding
  }
  else
    SLIM_CHECK(w.lm_head_packed != nullptr,
               "{}: missing tensor 'lm_head.weight' or 'lm_head.qweight' (and tie_word_embeddings is false)", path);
  return m;
}

PackedSummary summarize_packed_model(const Model& m) {
  SLIM_CHECK(m.format == kPackedFormat, "{}: not a packed model", m.source);
  PackedSummary s;
  const TensorSet set = TensorSet::open_dir(m.source, kPackedFileName, kPackedIndexName);
  for (const auto& f : set.files()) s.file_bytes += int64_t(fs::file_size(f->path()));
  s.metadata = set.files().at(0)->metadata();
  for (BlockWeights b : m.weights.blocks)  // a copy of views: linears() needs a mutable object
    for (const auto& ref : b.linears()) {
      const PackedLinear& p = *ref.linear->packed;
      s.quantized_weights += p.rows() * p.cols();
      s.packed_bytes += p.packed_bytes();
      const int64_t G = p.n_groups(), gw = group_width(p.cols(), p.parts().group_size);
      for (int64_t g = 0; g < G; ++g)
        s.weights_by_bits[p.parts().group_bits[size_t(g)]] += p.rows() * std::min(gw, p.cols() - g * gw);
    }
  s.other_bytes = s.file_bytes - s.packed_bytes;
  return s;
}

namespace {
// The packed linears the decode GEMV multiplies by: blocks, then the head.
std::vector<const PackedLinear*> decode_linears(const Model& m) {
  std::vector<const PackedLinear*> all;
  for (BlockWeights b : m.weights.blocks)  // a copy of views: linears() needs a mutable object
    for (const auto& ref : b.linears())
      if (ref.linear->packed) all.push_back(ref.linear->packed.get());
  if (m.weights.lm_head_packed) all.push_back(m.weights.lm_head_packed.get());
  return all;
}
}  // namespace

int64_t prepare_packed_decode(const Model& m) {
  int64_t bytes = 0;
  for (const PackedLinear* p : decode_linears(m)) bytes += p->prepare_for_decode();  // each build is parallel inside
  return bytes;
}

int64_t use_int8_prefill(const Model& m) {
  pack_detail::tuning().gemm_int8 = pack_detail::gemm_int8_env() != 0;
  int64_t n = 0;
  for (const PackedLinear* p : decode_linears(m)) n += pack_detail::gemm_int8_applies(*p);
  return n;
}

int64_t packed_decode_bytes(const Model& m) {
  int64_t bytes = 0;
  for (const PackedLinear* p : decode_linears(m))
    if (pack_detail::int8_gemv_applies(*p)) bytes += p->int8_tile_bytes();
  return bytes;
}

}  // namespace slim
