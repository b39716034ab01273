#include "io/llama2c_checkpoint.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "model/rope_layout.h"
#include "util/error.h"
#include "util/files.h"
#include "util/mapped_file.h"

namespace slim {

namespace {
constexpr int kHeaderInts = 7;
constexpr uint32_t kMagicV1 = 0x616b3432;  // "ak42": llama2.c export versions 1/2

// Walks the mapped float array in file order, like run.c's memory_map_weights.
struct Cursor {
  const float* p;
  std::shared_ptr<const void> keep;
  Tensor take(int64_t rows, int64_t cols) {
    Tensor t = Tensor::view(p, rows, cols, keep);
    p += rows * cols;
    return t;
  }
};
}  // namespace

Model load_llama2c(const std::string& path) {
  auto file = MappedFile::open(path);
  SLIM_CHECK(file->size() >= kHeaderInts * 4, "{}: too small for a llama2.c checkpoint ({} bytes)", path,
             file->size());
  int32_t h[kHeaderInts];
  std::memcpy(h, file->data(), sizeof h);
  SLIM_CHECK(uint32_t(h[0]) != kMagicV1,
             "{}: llama2.c export version 1/2 ('ak42' magic) is not supported; export with "
             "--version 0 (legacy fp32) or use the Hugging Face directory",
             path);
  ModelConfig c;
  c.arch = "llama2c";
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  // The sign of vocab_size says whether the classifier is shared; INT32_MIN has no magnitude.
  SLIM_CHECK(h[5] != INT32_MIN, "{}: header vocab_size {} is out of range", path, h[5]);
  const bool shared = h[5] > 0;
  c.vocab_size = std::abs(h[5]);
  c.max_seq_len = h[6];
  c.tie_embeddings = shared;
  c.pos = PosKind::RopeInterleaved;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.f;
  c.bos_id = 1;
  c.eos_id = 2;
  SLIM_CHECK(c.n_heads > 0 && c.dim > 0 && c.dim % c.n_heads == 0,
             "{}: header dim {} is not a multiple of n_heads {}", path, c.dim, c.n_heads);
  c.head_dim = c.dim / c.n_heads;
  validate_config(c, path);

  // Expected size, in floats, of everything after the header.
  const int64_t d = c.dim, L = c.n_layers, kv = c.kv_dim(), hd = c.hidden_dim, V = c.vocab_size;
  const int64_t floats = V * d + L * d + L * d * d + 2 * L * d * kv + L * d * d + L * d + 3 * L * d * hd + d +
                         int64_t(c.max_seq_len) * c.head_dim + (shared ? 0 : V * d);
  const int64_t expect = kHeaderInts * 4 + floats * 4;
  SLIM_CHECK(int64_t(file->size()) == expect,
             "{}: size mismatch: the header (dim {}, hidden {}, layers {}, heads {}, kv heads {}, vocab {}, "
             "seq {}) implies {} bytes, the file has {}",
             path, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, V, c.max_seq_len, expect,
             file->size());

  Model m;
  m.config = c;
  m.source = path;
  m.format = "llama2c";
  Cursor cur{reinterpret_cast<const float*>(file->data() + kHeaderInts * 4), file};
  auto& w = m.weights;
  w.tok_embed = cur.take(V, d);
  w.blocks.resize(size_t(L));
  for (auto& b : w.blocks) b.attn_norm = cur.take(1, d);
  for (auto& b : w.blocks) b.wq.w = cur.take(c.q_dim(), d);
  for (auto& b : w.blocks) b.wk.w = cur.take(kv, d);
  for (auto& b : w.blocks) b.wv.w = cur.take(kv, d);
  for (auto& b : w.blocks) b.wo.w = cur.take(d, c.q_dim());
  for (auto& b : w.blocks) b.ffn_norm = cur.take(1, d);
  for (auto& b : w.blocks) b.w_gate.w = cur.take(hd, d);
  for (auto& b : w.blocks) b.w_down.w = cur.take(d, hd);
  for (auto& b : w.blocks) b.w_up.w = cur.take(hd, d);
  w.final_norm = cur.take(1, d);
  cur.take(c.max_seq_len, c.head_dim);  // freq_cis_real/imag: recomputed from rope_theta instead
  w.lm_head = shared ? w.tok_embed : cur.take(V, d);
  return m;
}

void save_llama2c(const Model& m, const std::string& path) {
  const ModelConfig& c = m.config;
  SLIM_CHECK(c.head_dim * c.n_heads == c.dim, "{}: llama2.c format needs head_dim * n_heads == dim", path);
  SLIM_CHECK(!c.qkv_bias, "{}: llama2.c format has no q/k/v biases", path);
  SLIM_CHECK(c.norm == NormKind::RMSNorm && c.mlp == MlpKind::SwiGLU && !c.sandwich_norm && c.layer_attn.empty() &&
                 c.embed_scale == 1 && c.attn_scalar == 0 && c.attn_softcap == 0 && c.final_softcap == 0,
             "{}: llama2.c format holds LLaMA blocks only ({} has other norms, MLP, attention or scaling)", path,
             c.arch);
  std::string out;
  auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  int32_t h[kHeaderInts] = {c.dim,        c.hidden_dim,
                            c.n_layers,   c.n_heads,
                            c.n_kv_heads, c.tie_embeddings ? c.vocab_size : -c.vocab_size,
                            c.max_seq_len};
  put(h, sizeof h);
  auto put_t = [&](const Tensor& t) { put(t.data(), size_t(t.numel()) * 4); };
  const bool halves = c.pos == PosKind::RopeHalves;
  auto rope = [&](const Tensor& t, int heads) {
    return halves ? rope_rows_halves_to_interleaved(t, heads, c.head_dim) : t;
  };
  const auto& w = m.weights;
  put_t(w.tok_embed);
  for (auto& b : w.blocks) put_t(b.attn_norm);
  for (auto& b : w.blocks) put_t(rope(b.wq.w, c.n_heads));
  for (auto& b : w.blocks) put_t(rope(b.wk.w, c.n_kv_heads));
  for (auto& b : w.blocks) put_t(b.wv.w);
  for (auto& b : w.blocks) put_t(b.wo.w);
  for (auto& b : w.blocks) put_t(b.ffn_norm);
  for (auto& b : w.blocks) put_t(b.w_gate.w);
  for (auto& b : w.blocks) put_t(b.w_down.w);
  for (auto& b : w.blocks) put_t(b.w_up.w);
  put_t(w.final_norm);
  // freq_cis tables as llama2.c's export writes them (unused by our loader).
  std::vector<float> re, im;
  for (int p = 0; p < c.max_seq_len; ++p)
    for (int i = 0; i < c.head_dim / 2; ++i) {
      double f = 1.0 / std::pow(double(c.rope_theta), 2.0 * i / c.head_dim);
      re.push_back(float(std::cos(p * f)));
      im.push_back(float(std::sin(p * f)));
    }
  put(re.data(), re.size() * 4);
  put(im.data(), im.size() * 4);
  if (!c.tie_embeddings) put_t(w.lm_head);
  write_file_atomic(path, out);
}

}  // namespace slim
