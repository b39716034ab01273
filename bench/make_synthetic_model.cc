// Writes a Hugging Face model directory with GENERATED weights in the shape of
// a real model, for speed and size benchmarks at scales the shared data lacks
// (a 1.1B model is not available here). The weights are seeded normal noise
// (std 0.02, norms 1): perplexity on them means nothing, timings and sizes do.
//
//   make_synthetic_model --shape tinyllama --dtype bf16 --out DIR [--seed S]
//
// Shapes: tinyllama (TinyLlama-1.1B: hidden 2048, 22 layers, 32 heads, 4 KV
// heads, FFN 5632, vocab 32000), llama2-7b (hidden 4096, 32 layers, 32 heads,
// FFN 11008), llama3-8b (4096, 32 layers, 8 KV heads, FFN 14336, vocab
// 128256), llama2-70b (8192, 80 layers, 64 heads, 8 KV heads, FFN 28672),
// opt-1.3b (OPTForCausalLM: hidden 2048, 24 layers, 32 heads, FFN 8192,
// vocab 50272, LayerNorm, ReLU, learned positions, biases, tied head),
// gemma3-1b (Gemma3ForCausalLM: hidden 1152, 26 layers, 4 heads, 1 KV head,
// head_dim 256, FFN 6912, vocab 262144, five sliding layers (window 512) then
// one global, q/k norms, four norms per block, GeGLU, tied head),
// mid, small (hidden 256, 4 layers; for quick checks). --layers N overrides
// the depth. The model is written block by block as safetensors shards with an
// index (pack/sharded_writer.h): memory is one block in fp32 plus the
// embedding and head, whatever the depth.
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "io/hf_checkpoint.h"
#include "pack/sharded_writer.h"
#include "model/weights.h"
#include "util/error.h"

namespace {

using namespace slim;

// Rows are generated in parallel, each from its own seeded stream, so the
// weights do not depend on the thread count.
Tensor generated(int64_t rows, int64_t cols, float std_dev, float mean, uint64_t seed) {
  std::vector<float> v(size_t(rows * cols));  // (rows, cols)
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t r = 0; r < rows; ++r) {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(r));
    std::normal_distribution<float> nd(mean, std_dev);
    for (int64_t c = 0; c < cols; ++c) v[size_t(r * cols + c)] = nd(rng);
  }
  return Tensor::from(std::move(v), rows, cols);
}

ModelConfig shape_config(const std::string& shape) {
  ModelConfig c;
  c.arch = "LlamaForCausalLM";
  c.pos = PosKind::RopeHalves;
  c.norm_eps = 1e-5f;
  c.bos_id = 1;
  c.eos_id = 2;
  c.vocab_size = 32000;
  if (shape == "tinyllama") {
    c.dim = 2048, c.hidden_dim = 5632, c.n_layers = 22, c.n_heads = 32, c.n_kv_heads = 4, c.max_seq_len = 2048;
  } else if (shape == "llama2-7b") {
    c.dim = 4096, c.hidden_dim = 11008, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 32, c.max_seq_len = 4096;
  } else if (shape == "llama3-8b") {
    c.dim = 4096, c.hidden_dim = 14336, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 8, c.max_seq_len = 8192;
    c.vocab_size = 128256;
    c.rope_theta = 500000.f;
  } else if (shape == "llama2-70b") {
    c.dim = 8192, c.hidden_dim = 28672, c.n_layers = 80, c.n_heads = 64, c.n_kv_heads = 8, c.max_seq_len = 4096;
  } else if (shape == "opt-1.3b") {
    c.arch = "OPTForCausalLM";
    c.norm = NormKind::LayerNorm;
    c.mlp = MlpKind::ReLU;
    c.pos = PosKind::Learned;
    c.qkv_bias = c.all_bias = c.tie_embeddings = true;
    c.pos_offset = 2;
    c.bos_id = c.eos_id = 2;
    c.dim = 2048, c.hidden_dim = 8192, c.n_layers = 24, c.n_heads = 32, c.n_kv_heads = 32, c.max_seq_len = 2048;
    c.vocab_size = 50272;
  } else if (shape == "gemma3-1b") {
    c.arch = "Gemma3ForCausalLM";
    c.norm = NormKind::RMSNormPlusOne;
    c.mlp = MlpKind::GeGLU;
    c.qk_norm = c.sandwich_norm = c.tie_embeddings = true;
    c.norm_eps = 1e-6f;
    c.bos_id = 2, c.eos_id = 1;
    c.dim = 1152, c.hidden_dim = 6912, c.n_layers = 26, c.n_heads = 4, c.n_kv_heads = 1, c.max_seq_len = 32768;
    c.head_dim = 256;
    c.vocab_size = 262144;
    c.rope_theta = 1e6f;
    c.rope_local_theta = 1e4f;
    c.sliding_window = 512;
    c.attn_scalar = 256;
    c.embed_scale = 34.f;  // sqrt(1152) = 33.94 rounded to bf16, as transformers runs the bf16 model
  } else if (shape == "mid") {
    c.dim = 1024, c.hidden_dim = 2816, c.n_layers = 2, c.n_heads = 16, c.n_kv_heads = 4, c.max_seq_len = 1024;
  } else if (shape == "small") {
    c.dim = 256, c.hidden_dim = 704, c.n_layers = 4, c.n_heads = 8, c.n_kv_heads = 2, c.max_seq_len = 1024;
  } else {
    fail("unknown --shape '{}' (tinyllama, llama2-7b, llama3-8b, llama2-70b, opt-1.3b, gemma3-1b, mid, small)", shape);
  }
  if (c.head_dim == 0) c.head_dim = c.dim / c.n_heads;
  return c;
}

// Gemma-3's layer types for n layers: five sliding, then one global (HF's pattern 6).
std::vector<LayerAttn> gemma3_layers(int n) {
  std::vector<LayerAttn> v(static_cast<size_t>(n));
  for (int l = 0; l < n; ++l) v[size_t(l)] = (l + 1) % 6 == 0 ? LayerAttn::Global : LayerAttn::Local;
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape = "tinyllama", dtype_s = "BF16", out;
  uint64_t seed = 0;
  int layers = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) fail("{} needs a value", a);
      return argv[++i];
    };
    if (a == "--shape") shape = next();
    else if (a == "--dtype") dtype_s = next();
    else if (a == "--out") out = next();
    else if (a == "--seed") seed = std::stoull(next());
    else if (a == "--layers") layers = std::stoi(next());
    else {
      fmt::print(stderr, "usage: make_synthetic_model --shape tinyllama|llama2-7b|llama3-8b|llama2-70b|opt-1.3b|gemma3-1b|mid|small --dtype bf16|f16|f32 --out DIR [--seed S] [--layers N]\n");
      return 2;
    }
  }
  try {
    SLIM_CHECK(!out.empty(), "--out DIR is required");
    for (auto& ch : dtype_s) ch = char(std::toupper(ch));
    DType dtype{};
    SLIM_CHECK(parse_dtype(dtype_s, &dtype), "unknown --dtype '{}'", dtype_s);
    Model m;
    m.config = shape_config(shape);
    if (layers > 0) m.config.n_layers = layers;
    if (shape == "gemma3-1b") m.config.layer_attn = gemma3_layers(m.config.n_layers);
    const ModelConfig& c = m.config;
    uint64_t s = seed * 1000;
    auto& w = m.weights;
    // Seeds in the order of the earlier whole-model generator (embedding,
    // blocks, final norm, head), so the same --seed gives the same weights.
    w.tok_embed = generated(c.vocab_size, c.dim, 0.02f, 0.f, ++s);
    // Norm weights: 1, or 0 where the norm scales by 1 + w (Gemma).
    const float norm_w = c.norm == NormKind::RMSNormPlusOne ? 0.f : 1.f;
    w.final_norm = generated(1, c.dim, 0.f, norm_w, s + 9 * uint64_t(c.n_layers) + 1);
    w.lm_head = c.tie_embeddings ? w.tok_embed : generated(c.vocab_size, c.dim, 0.02f, 0.f, s + 9 * uint64_t(c.n_layers) + 2);
    const bool bias = c.all_bias;
    if (c.pos == PosKind::Learned) w.pos_embed = generated(c.max_seq_len + c.pos_offset, c.dim, 0.02f, 0.f, s + 9 * uint64_t(c.n_layers) + 3);
    if (bias) w.final_norm_bias = generated(1, c.dim, 0.02f, 0.f, s + 9 * uint64_t(c.n_layers) + 4);
    w.blocks.resize(size_t(c.n_layers));
    std::filesystem::create_directories(out);
    ShardedWriterOptions wo;
    wo.dtype = dtype;
    wo.metadata = {{"slim.synthetic", fmt::format("generated weights, shape {}, seed {}", shape, seed)}};
    ShardedModelWriter writer(m, out, wo);
    writer.write_rest();
    w.tok_embed = w.lm_head = w.pos_embed = Tensor();
    for (int l = 0; l < c.n_layers; ++l) {
      auto& b = w.blocks[size_t(l)];
      b.attn_norm = generated(1, c.dim, 0.f, norm_w, ++s);
      b.ffn_norm = generated(1, c.dim, 0.f, norm_w, ++s);
      b.wq.w = generated(c.q_dim(), c.dim, 0.02f, 0.f, ++s);
      b.wk.w = generated(c.kv_dim(), c.dim, 0.02f, 0.f, ++s);
      b.wv.w = generated(c.kv_dim(), c.dim, 0.02f, 0.f, ++s);
      b.wo.w = generated(c.dim, c.q_dim(), 0.02f, 0.f, ++s);
      b.has_gate = has_gate_of(c);
      if (b.has_gate) b.w_gate.w = generated(c.hidden_dim, c.dim, 0.02f, 0.f, ++s);
      b.w_up.w = generated(c.hidden_dim, c.dim, 0.02f, 0.f, ++s);
      b.w_down.w = generated(c.dim, c.hidden_dim, 0.02f, 0.f, ++s);
      if (bias) {  // OPT: every norm and linear has one (extra seeds after the LLaMA sequence)
        uint64_t bs = (uint64_t(l) + 1) << 32;
        b.attn_norm_bias = generated(1, c.dim, 0.02f, 0.f, ++bs);
        b.ffn_norm_bias = generated(1, c.dim, 0.02f, 0.f, ++bs);
        for (auto& ref : b.linears()) ref.linear->bias = generated(1, ref.linear->out(), 0.02f, 0.f, ++bs);
      }
      if (c.sandwich_norm || c.qk_norm) {  // Gemma's extra norms (seeds after the LLaMA sequence)
        uint64_t ns = ((uint64_t(l) + 1) << 32) + 1000;
        if (c.sandwich_norm) {
          b.attn_post_norm = generated(1, c.dim, 0.f, norm_w, ++ns);
          b.ffn_post_norm = generated(1, c.dim, 0.f, norm_w, ++ns);
        }
        if (c.qk_norm) {
          b.q_norm = generated(1, c.head_dim, 0.f, norm_w, ++ns);
          b.k_norm = generated(1, c.head_dim, 0.f, norm_w, ++ns);
        }
      }
      writer.write_block(l, {});
      b = BlockWeights();
      fmt::print(stderr, "\rblock {}/{}", l + 1, c.n_layers);
    }
    writer.write_index();
    fmt::print(stderr, "\n");
    fmt::print("wrote {} ({} parameters, {}, generated weights)\n", out, c.n_params(), dtype_name(dtype));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
