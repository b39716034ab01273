// Prefill throughput of one 7B-shaped LLaMA decoder block (generated weights:
// dim 4096, FFN 11008, 32 heads, head_dim 128) next to the machine's sgemm
// GFLOP/s measured in the same run, at several sequence lengths.
//
//   build/bench/bench_forward [--threads N] [--quick] [--json FILE]
//   build/bench/bench_forward --calib [--threads N] [--seqlens 512,2048] [--windows W] [--reps R]
//
// --calib runs the forward the calibration driver runs (calib/sequential.cc)
// on W windows per sequence length, activations stored in fp16: the Hessian
// pass (every linear's input into a HessianAccumulator, no down_proj) and the
// propagation pass (the whole block, output stored back), and prints where
// the time goes, part by part, next to sgemm/ssyrk at the same shapes in the
// same run. R repetitions, each printed (the machine's speed varies).
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
#include "calib/hessian.h"
#include "model/forward.h"
#include "util/half.h"
#include "util/blas_kernels.h"
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

// GFLOP/s of the upper triangle of C (n, n) = Aᵀ A with A (T, n): the Hessian SYRK.
double ssyrk_gflops(int n, int T, int reps) {
  std::vector<float> a(size_t(T) * n, 0.01f), c(size_t(n) * n);
  const double t = best_time(reps, [&] {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, T, 1.f, a.data(), n, 0.f, c.data(), n);
  });
  return double(T) * n * n / t / 1e9;
}

// One --calib measurement: W windows of T tokens through both passes.
void calib_forward(const ModelConfig& c, const BlockWeights& b, int T, int W, std::mt19937& rng) {
  const int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim, row = int64_t(T) * d;
  std::vector<uint16_t> acts(size_t(W * row));  // (W, T, dim) fp16, as the driver stores them
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& a : acts) a = f32_to_f16(nd(rng));
  RopeTable rope;
  rope.build(c, T);
  BlockScratch scratch;
  std::vector<float> x(static_cast<size_t>(row)), k(static_cast<size_t>(T * kv)), v(static_cast<size_t>(T * kv));
  HessianAccumulator hess[4] = {HessianAccumulator(d), HessianAccumulator(q), HessianAccumulator(d),
                                HessianAccumulator(h)};
  LinearInputHook hook = [&](InputSite site, const float* in, int rows, int) { hess[int(site)].add(in, rows); };
  double load_s[2] = {0, 0}, store_s = 0, pass_s[2] = {0, 0};
  ForwardProfile prof[2];
  double attn_parts[2][3] = {};
  for (int pass = 0; pass < 2; ++pass) {  // 0: Hessian pass, 1: propagation
    scratch.profile = &prof[pass];
    scratch.attn.scores_s = scratch.attn.softmax_s = scratch.attn.pv_s = 0;
    const auto p0 = bench::Clock::now();
    for (int w = 0; w < W; ++w) {
      auto t = bench::Clock::now();
      f16_to_f32(std::span(acts.data() + w * row, size_t(row)), std::span(x.data(), size_t(row)));
      load_s[pass] += bench::seconds_since(t);
      block_forward(c, 0, b, rope, x.data(), T, 0, k.data(), v.data(), scratch, pass == 0 ? &hook : nullptr,
                    /*inputs_only=*/pass == 0);
      if (pass == 1) {
        t = bench::Clock::now();
        for (int64_t i = 0; i < row; ++i) acts[size_t(w * row + i)] = f32_to_f16(x[size_t(i)]);
        store_s += bench::seconds_since(t);
      }
    }
    pass_s[pass] = bench::seconds_since(p0);
    attn_parts[pass][0] = scratch.attn.scores_s;
    attn_parts[pass][1] = scratch.attn.softmax_s;
    attn_parts[pass][2] = scratch.attn.pv_s;
  }
  double syrk_s = 0, sum_s = 0, syrk_gflop = 0;
  for (const auto& hs : hess) {
    syrk_s += hs.syrk_seconds();
    sum_s += hs.sum_seconds();
    syrk_gflop += double(W) * T * double(hs.dim()) * double(hs.dim()) / 1e9;
  }
  // sgemm / ssyrk at the block's shapes, now.
  const double g_dd = sgemm_gflops(T, int(d), int(d), 2), g_hd = sgemm_gflops(T, int(h), int(d), 2),
               g_dh = sgemm_gflops(T, int(d), int(h), 2), g_att = sgemm_gflops(T, T, c.head_dim, 2);
  const double s_d = ssyrk_gflops(int(d), T, 2), s_h = ssyrk_gflops(int(h), T, 2);
  const double attn_gflop = double(W) * 4.0 * q * T * (T + 1) / 2.0 / 1e9;
  fmt::print("\ncalibration forward, T = {}, {} windows (fp16 activations)\n", T, W);
  fmt::print("{:<34} {:>9} {:>9} {:>9} {:>10} {:>14}\n", "part", "s/window", "share", "GFLOP", "GFLOP/s",
             "sgemm GFLOP/s");
  for (int pass = 0; pass < 2; ++pass) {
    const ForwardProfile& p = prof[pass];
    const double tot = pass_s[pass];
    auto line = [&](const char* name, double sec, double gflop, double ref) {
      fmt::print("{:<34} {:>9.3f} {:>8.1f}% {:>9.1f} {:>10.1f} {:>14}\n", name, sec / W, 100 * sec / tot, gflop,
                 gflop > 0 && sec > 0 ? gflop / sec : 0.0, ref > 0 ? fmt::format("{:.1f}", ref) : std::string("-"));
    };
    fmt::print("{}\n", pass == 0 ? "-- Hessian pass (original weights; no down_proj)" : "-- propagation (whole block)");
    line("q/k/v products", p.qkv, W * 2.0 * T * d * (q + 2 * kv) / 1e9, g_dd);
    line("attention", p.attention, attn_gflop, g_att);
    const double ap = attn_parts[pass][0] + attn_parts[pass][1] + attn_parts[pass][2];
    const char* names[3] = {"  scores QK^T (share of threads)", "  softmax + mask", "  weighted sum PV"};
    for (int i = 0; i < 3; ++i)
      line(names[i], ap > 0 ? p.attention * attn_parts[pass][i] / ap : 0, i == 1 ? 0 : attn_gflop / 2, 0);
    line("o product", p.o_proj, W * 2.0 * T * q * d / 1e9, g_dd);
    line("gate/up products", p.gate_up, W * 4.0 * T * d * h / 1e9, g_hd);
    line("down product", p.down, W * 2.0 * T * h * d / 1e9, g_dh);
    line("RoPE", p.rope, 0, 0);
    line("norms", p.norms, 0, 0);
    line("SwiGLU", p.act, 0, 0);
    line("residual adds", p.residual, 0, 0);
    if (pass == 0) {
      line("Hessians (hook)", p.hook, syrk_gflop, 0);
      line("  SYRK (ssyrk at 4096 | 11008)", syrk_s, syrk_gflop, 0);
      fmt::print("{:<34} {:>9} {:>9} {:>9} {:>10} {:>14}\n", "", "", "", "", "",
                 fmt::format("{:.1f} | {:.1f}", s_d, s_h));
      line("  fp32 batch -> fp64 sum", sum_s, 0, 0);
    }
    line("fp16 -> fp32 activations", load_s[pass], 0, 0);
    if (pass == 1) line("fp32 -> fp16 activations", store_s, 0, 0);
    const double fl = W * (2.0 * T * (d * (q + 2 * kv) + q * d + (pass == 0 ? 2 : 3) * d * h) / 1e9) + attn_gflop;
    line("pass total (forward GFLOP only)", tot, fl, g_hd);
    fmt::print("{:<34} {:>9.3f}\n", "  unaccounted", (tot - p.total() - load_s[pass] - (pass ? store_s : 0)) / W);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads();
  bool quick = false, calib = false;
  int windows = 2, reps = 1;
  std::vector<int> seqlens = {512, 2048};
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else if (!std::strcmp(argv[i], "--calib")) calib = true;
    else if (!std::strcmp(argv[i], "--windows") && i + 1 < argc) windows = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seqlens") && i + 1 < argc) {
      seqlens.clear();
      for (const char* p = argv[++i]; *p;) {
        seqlens.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    } else {
      fmt::print(stderr, "bench_forward: unknown or incomplete option {}\n", argv[i]);
      return 2;
    }
  }
  for (int T : seqlens)
    if (T < 2 || T > 1 << 16 || windows < 1 || reps < 1) {
      fmt::print(stderr, "bench_forward: --seqlens values must lie in 2..65536, --windows and --reps >= 1\n");
      return 2;
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

  if (const std::string note = blas_core_note(); !note.empty()) fmt::print("note: {}\n", note);
  if (calib) {
    fmt::print("7B-shaped decoder block (generated weights), calibration forward, {} threads, OpenBLAS {}\n", threads,
               blas_core_name());
    for (int r = 0; r < reps; ++r)
      for (int T : seqlens) calib_forward(c, b, T, windows, rng);
    return 0;
  }
  fmt::print("7B-shaped decoder block (generated weights), {} threads, OpenBLAS {}\n", threads, blas_core_name());
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
