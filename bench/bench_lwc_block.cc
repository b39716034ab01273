// SliM-LLM+ training cost of one decoder block at a chosen width (default
// LLaMA-2-7B: dim 4096, hidden 11008, 32 heads) on generated weights and
// tokens: slim+ (quantize_model with a given bit map) on a one-block model, with 1 and 2 epochs; the
// difference is one epoch (every window once: forward, backward, LWC,
// AdamW). Prints seconds per window-step, the projection to a whole model
// (blocks x windows x epochs), peak memory, and sgemm GFLOP/s measured in the
// same run as the baseline.
// Usage: bench_lwc_block [dim hidden heads kv_heads tokens windows threads group]
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "bench_util.h"
#include "calib/dataset.h"
#include "quant/lwc_train.h"
#include "quant/pipeline.h"
#include "util/memory.h"

using namespace slim;

namespace {
Tensor randn(std::mt19937& rng, int64_t r, int64_t c, float s, float mean = 0.f) {
  std::normal_distribution<float> nd(mean, s);
  std::vector<float> v(size_t(r * c));
  for (auto& x : v) x = nd(rng);
  return Tensor::from(std::move(v), r, c);
}
}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, int def) { return argc > i ? std::atoi(argv[i]) : def; };
  const int dim = arg(1, 4096), hidden = arg(2, 11008), heads = arg(3, 32), kv_heads = arg(4, 32);
  const int tokens = arg(5, 512), windows = arg(6, 2), threads = arg(7, 2), group = arg(8, 128);
  bench::set_threads(threads);
  Model m;
  ModelConfig& c = m.config;
  c.arch = "LlamaForCausalLM";
  c.dim = dim;
  c.hidden_dim = hidden;
  c.n_layers = 1;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.head_dim = dim / heads;
  c.vocab_size = 256;
  c.max_seq_len = tokens;
  c.pos = PosKind::RopeHalves;
  std::mt19937 rng(1);
  m.weights.tok_embed = randn(rng, c.vocab_size, dim, 1.f);
  m.weights.blocks.resize(1);
  BlockWeights& b = m.weights.blocks[0];
  const float ws = 1.f / std::sqrt(float(dim));
  b.attn_norm = randn(rng, 1, dim, 0.1f, 1.f);
  b.ffn_norm = randn(rng, 1, dim, 0.1f, 1.f);
  b.wq.w = randn(rng, c.q_dim(), dim, ws);
  b.wk.w = randn(rng, c.kv_dim(), dim, ws);
  b.wv.w = randn(rng, c.kv_dim(), dim, ws);
  b.wo.w = randn(rng, dim, c.q_dim(), ws);
  b.w_gate.w = randn(rng, hidden, dim, ws);
  b.w_up.w = randn(rng, hidden, dim, ws);
  b.w_down.w = randn(rng, dim, hidden, 1.f / std::sqrt(float(hidden)));
  m.weights.final_norm = randn(rng, 1, dim, 0.1f, 1.f);
  m.weights.lm_head = m.weights.tok_embed;
  std::vector<int> text(size_t(tokens) * windows * 4);
  for (auto& t : text) t = int(rng() % 256);
  const CalibWindows calib = sample_windows(text, windows, tokens, 0);
  Bitmap map;  // 2-bit average: a third of the groups at 1, 2 and 3 bits
  for (auto& r : b.linears()) {
    BitmapLayer bl;
    bl.block = 0;
    bl.name = r.name;
    bl.rows = r.linear->out();
    bl.cols = r.linear->in();
    bl.group_size = group;
    bl.target_bits = 2;
    for (int64_t g = 0; g < (bl.cols + group - 1) / group; ++g) bl.bits.push_back(1 + int(g % 3));
    map.layers.push_back(bl);
  }
  const double gflops = bench::sgemm_gflops(512, 4096, 4096, 2);
  fmt::print("block dim {} hidden {} heads {}/{}; {} windows x {} tokens; {} threads; g{}\n", dim, hidden, heads,
             kv_heads, windows, tokens, threads, group);
  fmt::print("sgemm 512x4096x4096: {:.1f} GFLOP/s\n", gflops);
  double secs[2];
  for (int e = 1; e <= 2; ++e) {
    Model mm = m;
    QuantizeOptions o;  // slim+ in the streaming driver, with this bit map
    o.method = "slim+";
    o.bits = 2;
    o.group_size = group;
    o.bitmap = &map;
    o.lwc_epochs = e;
    o.progress = false;
    const auto rep = quantize_model(mm, &calib, o)["lwc"];  // block seconds: the training only
    secs[e - 1] = rep["blocks"][0]["seconds"].get<double>();
    fmt::print("epochs {}: block {:.2f} s\n", e, secs[e - 1]);
  }
  const double step = (secs[1] - secs[0]) / windows;
  if (step <= 0) {
    fmt::print("the 2-epoch run was not slower than the 1-epoch run: the machine's noise exceeds one epoch; "
               "use more windows\npeak RSS {:.2f} GiB\n", double(peak_rss_bytes()) / (1 << 30));
    return 0;
  }
  // Linear FLOPs of one step: forward 2·T·P, backward 4·T·P (dx and dW).
  const double P = double(b.wq.w.numel() + b.wk.w.numel() + b.wv.w.numel() + b.wo.w.numel() + b.w_gate.w.numel() +
                          b.w_up.w.numel() + b.w_down.w.numel());
  const double flops = 6.0 * tokens * P + 4.0 * 2 * double(heads) * tokens * tokens * c.head_dim;
  fmt::print("one window-step ({} tokens): {:.2f} s  ({:.1f} GFLOP/s on the linears+attention)\n", tokens, step,
             flops / step / 1e9);
  const double per_2048 = step * (2048.0 / tokens);  // a lower bound: attention grows as tokens²
  fmt::print("projected LLaMA-2-7B (32 blocks x 128 windows x 2048 tokens x 50 epochs, linear in tokens): {:.0f} h\n",
             per_2048 * 32 * 128 * 50 / 3600.0);
  fmt::print("peak RSS {:.2f} GiB\n", double(peak_rss_bytes()) / (1 << 30));
}
