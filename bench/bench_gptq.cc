// GPTQ throughput on LLaMA-7B-shaped linears (generated weights and Hessians)
// next to the machine's sgemm GFLOP/s measured in the same run.
//
//   build/bench/bench_gptq [--quick] [--threads N] [--tokens N] [--no-down] [--reps N] [--shape RxC]...
//
// Shapes are rows x cols = out x in: 4096x4096 (q/k/v/o), 11008x4096
// (gate/up), 4096x11008 (down; skipped with --no-down); --quick runs 1024x1024;
// --shape replaces the list (and skips the LLaMA-7B estimate).
// Each layer: 4-bit, group 128, block 128, damp 0.01, no act-order.
// Only gptq_quantize is timed; the Hessian (X = Z + Z2·M with 8 outlier
// channels x20, H = 2/n XᵀX by cblas_dsyrk in fp64) is built beforehand.
// FLOPs counted: rows·cols² (lazy updates) + cols³ (inverse Hessian).
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>

#include "bench_util.h"
#include "quant/gptq.h"
#include "quant/linalg.h"

using namespace slim;
using bench::best_time;
using bench::Clock;
using bench::seconds_since;

namespace {

double sgemm_gflops(int n, int reps) { return bench::sgemm_gflops(n, n, n, reps); }

// H = 2/n XᵀX (cols, cols) of correlated activations with outlier channels.
std::vector<double> make_hessian(int64_t cols, int64_t tokens, uint32_t seed) {
  return bench::make_calibration(cols, tokens, seed).h;
}

using bench::Shape;

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads(), reps = 1;
  int64_t tokens = 2048;
  bool quick = false, down = true;
  std::vector<Shape> custom;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) {
      long long r = 0, c = 0;
      if (std::sscanf(argv[++i], "%lldx%lld", &r, &c) != 2 || r <= 0 || c <= 0) {
        fmt::print(stderr, "--shape wants ROWSxCOLS, got {}\n", argv[i]);
        return 2;
      }
      custom.push_back({argv[i], r, c});
    }
    else if (!std::strcmp(argv[i], "--no-down")) down = false;
    else {
      fmt::print(stderr, "usage: bench_gptq [--quick] [--threads N] [--tokens N] [--no-down] [--reps N] [--shape RxC]...\n");
      return 2;
    }
  }
  bench::set_threads(threads);

  std::vector<Shape> shapes;
  if (!custom.empty()) {
    shapes = custom;
  } else if (quick) {
    shapes = {{"1024x1024", 1024, 1024}};
    tokens = std::min<int64_t>(tokens, 512);
  } else {
    shapes = {{"q/k/v/o 4096x4096", 4096, 4096}, {"gate/up 11008x4096", 11008, 4096}};
    if (down) shapes.push_back({"down 4096x11008", 4096, 11008});
  }

  fmt::print("bench_gptq: {} threads, {}\n", threads, openblas_get_config());
  const int gemm_n = quick ? 1024 : 4096;
  const double sgemm = sgemm_gflops(gemm_n, 3);
  fmt::print("sgemm {}^3: {:.1f} GFLOP/s\n\n", gemm_n, sgemm);
  fmt::print("GPTQ 4-bit g128 block 128 (Hessian from {} tokens; only gptq_quantize is timed)\n", tokens);
  fmt::print("{:<22} {:>8} {:>9} {:>9} {:>8} {:>8} {:>10}\n", "layer (rows x cols)", "time s", "inv s", "GFLOP/s",
             "%sgemm", "retries", "loss");

  std::map<int64_t, std::vector<double>> hessians;  // by cols
  std::map<std::string, double> times;
  std::map<int64_t, double> inv_times;  // by cols
  for (const Shape& s : shapes) {
    auto& h = hessians[s.cols];
    if (h.empty()) h = make_hessian(s.cols, tokens, uint32_t(s.cols));
    std::mt19937 rng(uint32_t(s.rows * 7 + s.cols));
    std::normal_distribution<float> nd(0.f, 0.02f);
    std::vector<float> w(size_t(s.rows * s.cols));  // (rows, cols)
    for (auto& v : w) v = nd(rng);

    // The inverse-Hessian factorisation alone (damped like gptq_quantize), to
    // split the time between the cols³ part and the rows·cols² part.
    std::vector<double> u;  // (cols, cols)
    double mean = 0;
    for (int64_t i = 0; i < s.cols; ++i) mean += h[i * s.cols + i] / double(s.cols);
    const double t_inv = best_time(reps, [&] {
      u = h;
      for (int64_t i = 0; i < s.cols; ++i) u[i * s.cols + i] += 0.01 * mean;
      inverse_cholesky_upper(u.data(), s.cols);
    });
    std::vector<double>().swap(u);

    GptqOptions o;
    o.bits = 4;
    o.group_size = 128;
    GptqResult r;
    const double t = best_time(reps, [&] { r = gptq_quantize(w, s.rows, s.cols, h, o); });
    const double flops = double(s.rows) * s.cols * s.cols + double(s.cols) * s.cols * s.cols;
    const double gf = flops / t / 1e9;
    times[s.name] = t;
    inv_times[s.cols] = t_inv;
    fmt::print("{:<22} {:>8.2f} {:>9.2f} {:>9.1f} {:>7.1f}% {:>8} {:>10.4g}\n", s.name, t, t_inv, gf,
               100.0 * gf / sgemm, r.damp_retries, r.loss);
  }

  if (!quick && custom.empty()) {
    const double t_qkvo = times["q/k/v/o 4096x4096"], t_gu = times["gate/up 11008x4096"];
    double t_down = down ? times["down 4096x11008"] : 0;
    std::string note = "measured";
    if (!down) {
      // Scale the two parts of gate/up separately: the inverse as cols³
      // (x (11008/4096)³), the rest as rows·cols² (x 11008/4096).
      const double k = 11008.0 / 4096.0, t_inv = inv_times[4096];
      t_down = t_inv * k * k * k + std::max(0.0, t_gu - t_inv) * k;
      note = "estimated: gate/up's inverse time x (11008/4096)^3 + rest x 11008/4096";
    }
    const double per_layer = 4 * t_qkvo + 2 * t_gu + t_down;
    fmt::print(
        "\nLLaMA-7B estimate: per layer 4 x 4096x4096 (q,k,v,o) + 2 x 11008x4096 (gate,up) + 1 x 4096x11008 (down, {})\n"
        "  = 4 x {:.2f} + 2 x {:.2f} + {:.2f} = {:.1f} s/layer; 32 layers = {:.1f} s ({:.1f} min)\n"
        "  GPTQ only: Hessian accumulation (calibration forward passes) is not included.\n",
        note, t_qkvo, t_gu, t_down, per_layer, 32 * per_layer, 32 * per_layer / 60);
  }
  return 0;
}
