// SliM-LLM quantization time against plain GPTQ on LLaMA-7B-shaped linears
// (generated weights and activations), part by part, with the machine's
// sgemm GFLOP/s measured in the same run so absolute numbers can be judged.
//
//   build/bench/bench_slim [--quick] [--threads N] [--tokens N] [--reps N] [--no-down]
//                          [--bits B]... [--sba hessian|kl] [--check-k] [--isa avx2|avx512]
//                          [--sqc-p-min P] [--sqc-binary-iters N] [--sqc-coarse K]
//                          [--sqc-refine all|local|auto] [--sqc-local (= --sqc-refine local)]
//
// Per layer and target bits (group 128), what the pipeline does per linear
// with the default options of `slim quantize --method slim` (QuantizeOptions):
//   factor  gptq_factor: dead columns, damp, U = chol(H⁻¹)   (both methods;
//           built once per input site: q/k/v share one, gate/up share one)
//   GPTQ    gptq_quantize with the factor, min-max fits      (the baseline)
//   SliM    salience_from_factor (U's diagonal)
//           + SBA: --sba hessian (default): group_errors (one GEMM per
//             group and 64-row block for all of N-1..N+1) + allocate_group_bits;
//             --sba kl: sba_search at token stride 8 (the pipeline's ~8k
//             captured tokens; here --tokens/8)
//           + gptq_quantize with SBA's bits and the SQC fitter (the
//             pipeline's default grid end and 1-bit Lloyd rounds)
// Every GPTQ run is split into its column loop (incl. the lazy GEMMs) and its
// group fits (min-max for GPTQ, SQC for SliM). --check-k (KL only) also runs
// SBA on all tokens (stride 1) and reports whether it picks the same k* and,
// if not, how much larger the full-token KL of the stride-8 choice is. The
// Hessian is built beforehand and not timed (the calibration forward passes
// are common to both methods).
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>

#include "bench_util.h"
#include "quant/alloc.h"
#include "quant/gptq.h"
#include "quant/pipeline.h"
#include "quant/salience.h"
#include "quant/sba.h"
#include "quant/sqc.h"
#include "quant/sqc_kernel.h"
#include "util/error.h"

using namespace slim;
using bench::best_time;
using bench::Shape;

namespace {

struct Times {  // seconds of one shape at one bit width
  double factor = 0;                     // gptq_factor (shared by a site's linears)
  double g_loop = 0, g_fit = 0;          // GPTQ: column loop, min-max fits
  double sal = 0, sba = 0, sba_full = 0; // SliM: salience from U, SBA (hessian, or KL stride 8), KL stride 1 (--check-k)
  double s_loop = 0, s_fit = 0;          // SliM: column loop, SQC fits
  double gptq() const { return g_loop + g_fit; }
  double slim() const { return sal + sba + s_loop + s_fit; }
};

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads(), reps = 1;
  int64_t tokens = 8192;
  bool quick = false, down = true, check_k = false, kl = false;
  std::vector<int> bit_list;
  const QuantizeOptions defaults;  // the CLI's defaults for --method slim
  SqcOptions sq;
  sq.lambda = defaults.sqc_lambda;
  sq.p_min = defaults.sqc_p_min;
  sq.binary_iters = defaults.sqc_binary_iters;
  sq.coarse = defaults.sqc_coarse;
  std::string refine = defaults.sqc_refine;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--bits") && i + 1 < argc) bit_list.push_back(std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--no-down")) down = false;
    else if (!std::strcmp(argv[i], "--check-k")) check_k = true;
    else if (!std::strcmp(argv[i], "--sqc-p-min") && i + 1 < argc) sq.p_min = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--sqc-binary-iters") && i + 1 < argc) sq.binary_iters = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--sqc-coarse") && i + 1 < argc) sq.coarse = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--sqc-local")) refine = "local";
    else if (!std::strcmp(argv[i], "--sqc-refine") && i + 1 < argc) refine = argv[++i];
    else if (!std::strcmp(argv[i], "--sba") && i + 1 < argc) {
      const std::string c = argv[++i];
      if (c != "hessian" && c != "kl") {
        fmt::print(stderr, "--sba wants hessian or kl, got {}\n", c);
        return 2;
      }
      kl = c == "kl";
    }
    else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      const std::string isa = argv[++i];
      if (isa != "avx2" && isa != "avx512") {
        fmt::print(stderr, "--isa wants avx2 or avx512, got {}\n", isa);
        return 2;
      }
      sqc_kernel::force_isa(isa == "avx2" ? sqc_kernel::Isa::kAvx2 : sqc_kernel::Isa::kAvx512);
    } else {
      fmt::print(stderr,
                 "usage: bench_slim [--quick] [--threads N] [--tokens N] [--reps N] [--no-down] [--bits B]... "
                 "[--sba hessian|kl] [--check-k] [--isa avx2|avx512] [--sqc-p-min P] [--sqc-binary-iters N]"
                 " [--sqc-coarse K] [--sqc-refine all|local|auto] [--sqc-local]\n");
      return 2;
    }
  }
  if (bit_list.empty()) bit_list = {2, 3};
  try {
    sq.local_min_bits = sqc_local_min_bits(refine);
  } catch (const Error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 2;
  }
  if (check_k && !kl) {
    fmt::print(stderr, "--check-k compares KL token strides: it needs --sba kl\n");
    return 2;
  }
  bench::set_threads(threads);

  std::vector<Shape> shapes;
  if (quick) {
    shapes = {{"1024x1024", 1024, 1024}};
  } else {
    shapes = {{"4096x4096", 4096, 4096}, {"11008x4096", 11008, 4096}};
    if (down) shapes.push_back({"4096x11008", 4096, 11008});
  }

  fmt::print("bench_slim: {} threads, {} tokens, best of {}, SQC kernel {}, {}\n", threads, tokens, reps,
             sqc_kernel::active_isa() == sqc_kernel::Isa::kAvx512 ? "avx512" : "avx2", openblas_get_config());
  const int gemm_n = quick ? 1024 : 4096;
  fmt::print("sgemm {}^3: {:.1f} GFLOP/s\n\n", gemm_n, bench::sgemm_gflops(gemm_n, gemm_n, gemm_n, 3));
  fmt::print("group 128, damp 0.01, SBA {}, SQC p_min {:g} binary_iters {} coarse {} refine {}; seconds per linear "
             "(factor: once per input site)\n",
             kl ? "kl (token stride 8)" : "hessian (layer scope, max_up 1)", sq.p_min, sq.binary_iters, sq.coarse,
             refine);
  fmt::print("{:<11} {:>4} {:>7} | {:>7} {:>6} {:>7} | {:>6} {:>6} {:>7} {:>6} {:>7} | {:>7} {:>7}{}\n", "shape",
             "bits", "factor", "G.loop", "G.fit", "GPTQ", "sal", kl ? "SBA/8" : "SBA", "S.loop", "SQC", "SliM", "S/G",
             "S/G+F",
             check_k ? "   SBA/1  k*1/8  KL regret" : "");

  {  // warm the BLAS/OpenMP thread pools so the first timed call is not penalised
    GptqOptions go;
    bench::GeneratedCalib c = bench::make_calibration(256, 512, 1);
    std::vector<float> w(256 * 256, 0.01f);
    (void)gptq_quantize(w, 256, 256, c.h, go);
  }
  std::map<std::string, std::map<int, Times>> rows;  // shape -> bits -> times
  std::map<int64_t, bench::GeneratedCalib> calibs;   // by cols
  for (const Shape& s : shapes) {
    bench::GeneratedCalib& cal = calibs[s.cols];
    if (cal.x.empty()) cal = bench::make_calibration(s.cols, tokens, uint32_t(s.cols));
    std::mt19937 rng(uint32_t(s.rows * 7 + s.cols));
    std::normal_distribution<float> nd(0.f, 0.02f);
    std::vector<float> w(size_t(s.rows * s.cols));  // (rows, cols)
    for (auto& v : w) v = nd(rng);
    const ActivationBlock block{cal.x.data(), tokens};
    GptqOptions go;
    go.group_size = 128;
    GptqFactor factor;
    const double t_factor = best_time(reps, [&] { factor = gptq_factor(cal.h, s.cols, go); });

    for (int bits : bit_list) {
      Times& t = rows[s.name][bits];
      t.factor = t_factor;
      go.bits = bits;
      GptqResult r;
      t.g_loop = best_time(reps, [&] { r = gptq_quantize(w, s.rows, s.cols, factor, go); });
      t.g_fit = r.seconds_fit;
      t.g_loop -= t.g_fit;

      SalienceResult sal;
      t.sal = best_time(reps, [&] { sal = salience_from_factor(w, s.rows, s.cols, factor, 128); });
      SbaOptions sb;
      sb.bits = bits;
      sb.group_size = 128;
      sb.token_stride = 8;
      SbaResult sba, sba_full;
      if (!kl) {
        // As the pipeline's allocate_bits: error table at N-1..N+1, exact budget per linear.
        AllocOptions ao;
        ao.bits = bits;
        t.sba = best_time(reps, [&] {
          const GroupErrors ge = group_errors(w, s.rows, s.cols, cal.h, sal.u_diag, 128, bits - 1, bits + ao.max_up,
                                              AllocCriterion::hessian);
          sba.group_bits = allocate_group_bits({&ge, 1}, ao)[0];
        });
      } else {
        t.sba = best_time(reps, [&] { sba = sba_search(w, s.rows, s.cols, sal.group, {&block, 1}, sb); });
      }
      if (check_k) {
        sb.token_stride = 1;
        t.sba_full = best_time(reps, [&] { sba_full = sba_search(w, s.rows, s.cols, sal.group, {&block, 1}, sb); });
      }
      GptqOptions gs = go;
      gs.group_bits = sba.group_bits;
      gs.fitter = make_sqc_fitter(sq);
      t.s_loop = best_time(reps, [&] { r = gptq_quantize(w, s.rows, s.cols, factor, gs); });
      t.s_fit = r.seconds_fit;
      t.s_loop -= t.s_fit;

      // SBA's width mix decides how much SQC work is 2-bit (exact under --sqc-refine auto)
      // or wider: on these generated Gaussian weights it is not a real model's.
      int64_t at[3] = {0, 0, 0};  // groups at N-1, N, N+1
      for (int b : sba.group_bits) ++at[std::clamp(b - bits + 1, 0, 2)];
      const std::string mix = fmt::format("  widths N-1/N/N+1: {}/{}/{}", at[0], at[1], at[2]);
      std::string kcol;
      if (check_k) {
        // Full-token KL of the subsampled choice over the full-token optimum.
        const double regret = sba_full.kl.empty() ? 0.0
                                                  : sba_full.kl[size_t(sba.k - sba_full.k_first)] /
                                                            sba_full.kl[size_t(sba_full.k - sba_full.k_first)] -
                                                        1.0;
        kcol = fmt::format(" {:>7.2f} {:>6} {:>9.2e}{}", t.sba_full, fmt::format("{}/{}", sba_full.k, sba.k), regret,
                           sba.k == sba_full.k ? "" : " (k* differs)");
      }
      fmt::print("{:<11} {:>4} {:>7.2f} | {:>7.2f} {:>6.2f} {:>7.2f} | {:>6.2f} {:>6.2f} {:>7.2f} {:>6.2f} {:>7.2f} | "
                 "{:>6.2f}x {:>6.2f}x{}\n",
                 s.name, bits, t.factor, t.g_loop, t.g_fit, t.gptq(), t.sal, t.sba, t.s_loop, t.s_fit, t.slim(),
                 t.slim() / t.gptq(), (t.factor + t.slim()) / (t.factor + t.gptq()), kcol + mix);
      std::fflush(stdout);
    }
  }
  fmt::print("S/G: SliM/GPTQ without the factor; S/G+F: with one factor per linear (no sharing).\n");

  if (quick) return 0;
  // LLaMA-7B: 32 x (q,k,v,o 4096x4096 + gate,up 11008x4096 + down 4096x11008);
  // factors per block: attention input (q/k/v), o input, MLP input (gate/up)
  // of width 4096 and the down input of width 11008: 4 instead of 7. Without
  // a measured down projection it is estimated from gate/up: the factor as
  // cols³ (x (11008/4096)³), the loops as rows·cols² (x 11008/4096), SQC's
  // fits and SBA as rows·cols (unchanged: same number of weights).
  auto estimate_down = [](const Times& g) {
    const double k = 11008.0 / 4096;
    Times d = g;
    d.factor = g.factor * k * k * k;
    d.g_loop = g.g_loop * k;
    d.s_loop = g.s_loop * k;
    return d;
  };
  fmt::print("\nLLaMA-7B projection (32 blocks; down {}), minutes; factors shared per input site for both methods:\n",
             down ? "measured" : "estimated from gate/up");
  fmt::print("{:>5} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} {:>7} {:>7} | {:>7} {:>11}\n", "bits", "factor", "G.loop",
             "GPTQ", "sal", "SBA", "S.loop", "SQC", "SliM", "S/G", "S/G unshared");
  for (int bits : bit_list) {
    const Times &a = rows["4096x4096"][bits], &g = rows["11008x4096"][bits];
    const Times d = down ? rows["4096x11008"][bits] : estimate_down(g);
    auto sum = [&](auto part) { return 32 * (4 * part(a) + 2 * part(g) + part(d)) / 60; };
    const double f_shared = 32 * (3 * a.factor + d.factor) / 60, f_unshared = sum([](const Times& t) { return t.factor; });
    const double gptq = sum([](const Times& t) { return t.gptq(); }), slim = sum([](const Times& t) { return t.slim(); });
    fmt::print("{:>5} {:>7.1f} {:>7.1f} {:>7.1f} | {:>7.2f} {:>7.1f} {:>7.1f} {:>7.1f} {:>7.1f} | {:>6.2f}x {:>10.2f}x\n",
               bits, f_shared, sum([](const Times& t) { return t.g_loop + t.g_fit; }), f_shared + gptq,
               sum([](const Times& t) { return t.sal; }), sum([](const Times& t) { return t.sba; }),
               sum([](const Times& t) { return t.s_loop; }), sum([](const Times& t) { return t.s_fit; }),
               f_shared + slim, (f_shared + slim) / (f_shared + gptq), (f_unshared + slim) / (f_unshared + gptq));
  }
  fmt::print("  GPTQ = factor + G.loop (incl. min-max fits); SliM = factor + sal + SBA + S.loop + SQC.\n"
             "  Excluded: the calibration forward passes that accumulate H (common to both methods).\n");
  return 0;
}
