// Prefill throughput of one 7B-shaped LLaMA decoder block (generated weights:
// dim 4096, FFN 11008, 32 heads, head_dim 128) next to the machine's sgemm
// GFLOP/s measured in the same run, at several sequence lengths.
//
//   build/bench/bench_forward [--threads N] [--quick] [--json FILE]
//
// FLOPs counted for a block of T tokens: linears 2·T·(4·d² + 3·d·ffn) plus
// causal attention 2·2·d·T(T+1)/2 (QKᵀ and PV over the visible keys only).
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "bench_util.h"
#include "model/forward.h"
#include "util/files.h"

using namespace slim;
using bench::best_time;
using bench::sgemm_gflops;

namespace {

Tensor gen(std::mt19937& rng, int64_t r, int64_t c, float scale) {
  std::vector<float> v(size_t(r * c));
  std::normal_distribution<float> nd(0.f, scale);
  for (auto& x : v) x = nd(rng);
  return Tensor::from(std::move(v), r, c);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads();
  bool quick = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
  }
  bench::set_threads(threads);

  ModelConfig c;
  c.arch = "bench-7B-block";
  c.dim = 4096;
  c.hidden_dim = 11008;
  c.n_layers = 1;
  c.n_heads = 32;
  c.n_kv_heads = 32;
  c.head_dim = 128;
  c.vocab_size = 32000;
  c.max_seq_len = 4096;
  std::mt19937 rng(0);
  BlockWeights b;
  const float s = 0.02f;
  b.attn_norm = Tensor::from(std::vector<float>(size_t(c.dim), 1.f), 1, c.dim);
  b.ffn_norm = b.attn_norm;
  b.wq.w = gen(rng, c.dim, c.dim, s);
  b.wk.w = gen(rng, c.dim, c.dim, s);
  b.wv.w = gen(rng, c.dim, c.dim, s);
  b.wo.w = gen(rng, c.dim, c.dim, s);
  b.w_gate.w = gen(rng, c.hidden_dim, c.dim, s);
  b.w_up.w = gen(rng, c.hidden_dim, c.dim, s);
  b.w_down.w = gen(rng, c.dim, c.hidden_dim, s);

  fmt::print("7B-shaped decoder block (generated weights), {} threads\n", threads);
  fmt::print("{:>6} {:>12} {:>12} {:>14} {:>14} {:>8}\n", "T", "block ms", "tokens/s", "block GFLOP/s",
             "sgemm GFLOP/s", "ratio");
  std::vector<int> lengths = quick ? std::vector<int>{128, 512} : std::vector<int>{128, 512, 2048};
  nlohmann::json rows = nlohmann::json::array();
  for (int T : lengths) {
    RopeTable rope;
    rope.build(c, T);
    BlockScratch scratch;
    std::vector<float> x0(size_t(T) * c.dim), x, k(size_t(T) * c.kv_dim()), v(size_t(T) * c.kv_dim());
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& e : x0) e = nd(rng);
    const int reps = T >= 2048 ? 2 : 3;
    double t = best_time(reps, [&] {
      x = x0;
      block_forward(c, 0, b, rope, x.data(), T, 0, k.data(), v.data(), scratch);
    });
    const double d = c.dim, f = c.hidden_dim;
    const double flops = 2.0 * T * (4 * d * d + 3 * d * f) + 4.0 * d * T * (T + 1) / 2.0;
    const double gf = flops / t / 1e9;
    // Baseline: the block's biggest GEMM shape (T x 11008 x 4096) measured now.
    const double base = sgemm_gflops(T, c.hidden_dim, c.dim, reps);
    fmt::print("{:>6} {:>12.1f} {:>12.1f} {:>14.1f} {:>14.1f} {:>8.2f}\n", T, t * 1e3, T / t, gf, base, gf / base);
    rows.push_back({{"T", T},
                    {"block_seconds", t},
                    {"tokens_per_second", T / t},
                    {"block_gflops", gf},
                    {"sgemm_gflops", base},
                    {"ratio", gf / base}});
  }
  if (!json_path.empty())
    write_file_atomic(json_path, nlohmann::json{{"threads", threads}, {"rows", rows}}.dump(2) + "\n");
  return 0;
}
