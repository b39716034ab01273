// Packed-linear kernels against their baselines, measured in the same run:
// the machine's memory read bandwidth and OpenBLAS fp32 sgemv/sgemm on the
// same shapes (absolute times are noisy on a shared machine; ratios less so).
//
//   build/bench/bench_kernels [--threads N] [--reps N] [--target avx2|avx3] [--quick] [--gemv-only] [--no-lut] [--int8|--exact]
//                             [--group-size N] [--gemm-only]
//
// --gemm-only: the prefill table only: the exact path (fp32 panels + sgemm),
// the int8 GEMM (AVX2; int8_gemm.h) and sgemm on the fp32 weights, per mix,
// under the int8 GEMM's instruction-mix ceiling measured in the same run.
//
// --group-size (default 128) sets the GEMV table's group width (e.g. 64 or 16:
// the narrow groups of small models and SliM's g16); the other sections keep 128.
//
// GEMV "cold" cycles through copies of the layer totalling > 3x L3, so every
// call reads its weights from DRAM as in decoding a model that does not fit
// in cache; "hot" repeats one copy (L3-resident when it fits); sgemv cycles
// through copies of the fp32 weights the same way. Prints a table
// per section and one JSON line at the end.
#include <fmt/format.h>
#include <hwy/targets.h>
#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "pack/int8_gemv.h"
#include "pack/packed_kernels.h"
#include "pack/packed_linear.h"
#include "quant/quantizer.h"

using namespace slim;

namespace {

// A bit-width mix: the fraction of groups at 1, 2, 3, 4 bits.
struct Mix {
  const char* name;
  double frac[4];
};
const Mix kMixes[] = {{"avg2", {0.25, 0.5, 0.25, 0}}, {"avg3", {0, 0.25, 0.5, 0.25}}, {"uni4", {0, 0, 0, 1}},
                      {"uni2", {0, 1, 0, 0}},           {"uni3", {0, 0, 1, 0}}, {"uni1", {1, 0, 0, 0}}};

// Group bits for a mix, shuffled.
std::vector<int> mix_bits(int64_t groups, const Mix& m, std::mt19937& rng) {
  std::vector<int> bits;
  for (int b = 1; b <= 4; ++b)
    for (int64_t i = 0; i < int64_t(m.frac[b - 1] * double(groups) + 0.5); ++i) bits.push_back(b);
  bits.resize(size_t(groups), bits.empty() ? 3 : bits.back());
  std::shuffle(bits.begin(), bits.end(), rng);
  return bits;
}

// A generated packed layer (random codes, fp16 scales, integer zeros).
PackedLinear make_layer(int64_t rows, int64_t cols, const std::vector<int>& bits, int gs, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const int64_t G = int64_t(bits.size());
  std::vector<uint8_t> codes(size_t(rows * cols));  // (rows, cols)
  std::vector<QuantParams> params(size_t(rows * G));  // (rows, G)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < G; ++g) {
      const int b = bits[size_t(g)];
      const int maxq = (1 << b) - 1;
      QuantParams& p = params[size_t(r * G + g)];
      p.scale = f16_scale(0.005f + 0.02f * u(rng));
      p.zero = b == 1 ? f16_value(0.02f * (u(rng) - 0.5f)) : float(int(u(rng) * float(maxq + 1)) & maxq);
      for (int64_t c = g * gs; c < std::min(cols, (g + 1) * gs); ++c) codes[size_t(r * cols + c)] = uint8_t(rng() & maxq);
    }
  return PackedLinear::encode(rows, cols, gs, bits, codes, params);
}

// Copies of a layer's parts in separate buffers (for cold-cache GEMVs).
struct LayerCopies {
  std::vector<std::vector<uint8_t>> codes, zeros;
  std::vector<std::vector<uint16_t>> scales, offsets;
  std::vector<PackedLinear> layers;
  LayerCopies(const PackedLinear& L, int n) {
    const PackedParts& p = L.parts();
    for (int i = 0; i < n; ++i) {
      codes.emplace_back(p.codes.begin(), p.codes.end());
      zeros.emplace_back(p.zeros.begin(), p.zeros.end());
      scales.emplace_back(p.scales.begin(), p.scales.end());
      offsets.emplace_back(p.offsets.begin(), p.offsets.end());
    }
    for (int i = 0; i < n; ++i) {
      PackedParts q = p;
      q.codes = codes[size_t(i)];
      q.zeros = zeros[size_t(i)];
      q.scales = scales[size_t(i)];
      q.offsets = offsets[size_t(i)];
      layers.push_back(PackedLinear::from_parts(q));
    }
  }
};

// The last-level cache the "cold" buffers must overflow: the size the system
// reports (32 MB on the Zen 5 machine these kernels were first tuned on; 260
// MB on the Emerald Rapids one of 7 Dec 2026, where a fixed 32 MB left the
// "cold" layers and the bandwidth buffer in L3), 32 MB if it reports none.
const double kL3 = [] {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return l3 > 0 ? double(l3) : 32e6;
}();

// Read bandwidth (GB/s): a sum over a buffer 8x L3, all threads, four
// independent 256-bit accumulators so the adds never limit the loads.
double read_bandwidth(int reps) {
  const int64_t n = int64_t(8 * kL3 / 32);  // 32-byte vectors
  std::vector<int64_t> buf(size_t(4 * n), 1);  // (n, 4)
  int64_t sink = 0;
  const double t = bench::best_time(reps, [&] {
    int64_t total = 0;
#pragma omp parallel reduction(+ : total)
    {
      const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
      const int64_t i0 = n * id / nt / 4 * 4, i1 = n * (id + 1) / nt / 4 * 4;
      auto load = [&](int64_t i) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buf.data() + i)); };
      __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t i = i0; i < i1; i += 4) {
        a0 = _mm256_add_epi64(a0, load(4 * (i)));
        a1 = _mm256_add_epi64(a1, load(4 * (i + 1)));
        a2 = _mm256_add_epi64(a2, load(4 * (i + 2)));
        a3 = _mm256_add_epi64(a3, load(4 * (i + 3)));
      }
      const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
      total += _mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1) + _mm256_extract_epi64(s, 2) +
               _mm256_extract_epi64(s, 3);
    }
    sink += total;
  });
  if (sink == 42) fmt::print(" ");
  return double(n * 32) / t / 1e9;
}

// The int8 GEMM's instruction-mix ceiling (GFLOP/s, all threads): per
// 32-byte code vector (L1-resident), 4 broadcast token words, 4 vpmaddubsw
// and 4 vpaddw into 8 independent int16 sums (two code vectors in flight),
// nothing else; 64 flops per vpmaddubsw (32 products + 32 additions). The
// kernel's GFLOP/s against this is its efficiency on this CPU.
double maddubs_ceiling(int reps) {
  alignas(32) static uint8_t w[32 * 64];
  alignas(32) static int8_t xs[4 * 256];
  for (int i = 0; i < 32 * 64; ++i) w[i] = uint8_t(i & 15);
  for (int i = 0; i < 4 * 256; ++i) xs[i] = int8_t(i % 7 - 3);
  constexpr int64_t kSteps = 1 << 22;  // 2 code vectors x 4 tokens each
  int64_t sink = 0, team = 0;
  const double t = bench::best_time(reps, [&] {
    int64_t total = 0, n = 0;
#pragma omp parallel reduction(+ : total, n)
    {
      ++n;  // the threads that ran the loop, not the ones asked for
      // Named sums (an array of 8 stayed on the stack, every step a load and a store).
      __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (int64_t i = 0; i < kSteps; ++i) {
        const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32 * (2 * i & 63)));
        const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32 * ((2 * i + 1) & 63)));
        auto bcast = [&](int t) {
          int32_t x4;
          std::memcpy(&x4, xs + 256 * t + 4 * (i & 63), 4);
          return _mm256_set1_epi32(x4);
        };
        const __m256i b0 = bcast(0), b1 = bcast(1), b2 = bcast(2), b3 = bcast(3);
        a0 = _mm256_add_epi16(a0, _mm256_maddubs_epi16(w0, b0));
        a1 = _mm256_add_epi16(a1, _mm256_maddubs_epi16(w0, b1));
        a2 = _mm256_add_epi16(a2, _mm256_maddubs_epi16(w0, b2));
        a3 = _mm256_add_epi16(a3, _mm256_maddubs_epi16(w0, b3));
        a4 = _mm256_add_epi16(a4, _mm256_maddubs_epi16(w1, b0));
        a5 = _mm256_add_epi16(a5, _mm256_maddubs_epi16(w1, b1));
        a6 = _mm256_add_epi16(a6, _mm256_maddubs_epi16(w1, b2));
        a7 = _mm256_add_epi16(a7, _mm256_maddubs_epi16(w1, b3));
        asm("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));  // no re-association
      }
      const __m256i s = _mm256_add_epi16(_mm256_add_epi16(_mm256_add_epi16(a0, a1), _mm256_add_epi16(a2, a3)),
                                         _mm256_add_epi16(_mm256_add_epi16(a4, a5), _mm256_add_epi16(a6, a7)));
      total += _mm256_extract_epi16(s, 0);
    }
    sink += total;
    team = n;
  });
  if (sink == 42) fmt::print(" ");
  return double(team) * double(kSteps) * 8 * 64 / t / 1e9;
}

std::vector<float> random_x(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = nd(rng);
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 100;  // best-of counts are high: 2-thread runs on a shared machine are often preempted
  bool quick = false, gemv_only = false;  // --gemv-only: the T = 1 GEMV table only
  bool tiles_only = false;                 // --tiles: the int8 code tiles build only
  bool gemm_only = false;                  // --gemm-only: the prefill table only
  std::string target;
  int gemv_gs = 128;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--target") && i + 1 < argc) target = argv[++i];
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--gemv-only")) gemv_only = quick = true;
    else if (!std::strcmp(argv[i], "--no-lut")) pack_detail::tuning().lut = false;
    else if (!std::strcmp(argv[i], "--int8")) pack_detail::tuning().int8 = true, pack_detail::tuning().int8_min_work = 0;
    else if (!std::strcmp(argv[i], "--exact")) pack_detail::tuning().int8 = false;
    else if (!std::strcmp(argv[i], "--tiles")) tiles_only = true;
    else if (!std::strcmp(argv[i], "--gemm-only")) gemm_only = quick = true;
    else if (!std::strcmp(argv[i], "--group-size") && i + 1 < argc && std::atoi(argv[i + 1]) >= 8)
      gemv_gs = std::atoi(argv[++i]);
    else {
      fmt::print(stderr, "usage: bench_kernels [--threads N] [--reps N] [--target avx2|avx3] [--quick] [--gemv-only] [--no-lut] [--int8|--exact] [--group-size N >= 8] [--tiles] [--gemm-only]\n");
      return 2;
    }
  }
  if (target == "avx2") hwy::SetSupportedTargetsForTest(HWY_AVX2);
  else if (target == "avx3") hwy::SetSupportedTargetsForTest(HWY_AVX3);
  bench::set_threads(threads);
  nlohmann::json js;
  js["target"] = packed_kernel_target();
  js["threads"] = threads;
  js["lut"] = pack_detail::tuning().lut;
  js["int8"] = pack_detail::tuning().int8;
  const double bw = read_bandwidth(20);
  js["read_bandwidth_gbs"] = bw;
  fmt::print("kernel target {}{}, {} threads; memory read bandwidth {:.1f} GB/s (sum over {:.0f} MB)\n",
             packed_kernel_target(),
             !pack_detail::tuning().lut ? " (--no-lut: masked GEMV)" : pack_detail::tuning().int8 ? " (int8 tables)" : " (exact LUT)", threads, bw, 8 * kL3 / 1e6);

  const bench::Shape shapes[] = {{"4096x4096", 4096, 4096}, {"11008x4096", 11008, 4096}};
  const int gs = 128;
  std::mt19937 rng(1);
  js["gemv_group_size"] = gemv_gs;

  // ---- The int8 kernel's code tiles (built once per layer at load): the
  // scalar reference against the dispatched target's build, alternated.
  if (tiles_only) {
    fmt::print("\nint8 code tiles, group size {}: milliseconds (best of {}, alternated), GB/s of code bytes read + written\n",
               gemv_gs, reps);
    fmt::print("{:<11} {:<5} {:>8} {:>10} {:>7} {:>10} {:>7} {:>8}\n", "shape", "mix", "MB", "scalar_ms", "GB/s",
               "simd_ms", "GB/s", "speedup");
    for (const auto& s : shapes)
      for (const Mix& m : kMixes) {
        const PackedLinear L = make_layer(s.rows, s.cols, mix_bits(s.cols / gemv_gs, m, rng), gemv_gs, 11);
        const size_t n = size_t(L.rows() / 16 * 16 * L.row_bytes());
        std::vector<uint8_t> a(n), b(n);
        double ts = 1e30, tv = 1e30;
        for (int r = 0; r < reps; ++r) {
          ts = std::min(ts, bench::best_time(1, [&] { pack_detail::build_int8_tiles(L, a.data()); }));
          tv = std::min(tv, bench::best_time(1, [&] { pack_detail::build_int8_tiles_dispatched(L, b.data()); }));
        }
        if (a != b) {
          fmt::print(stderr, "bench_kernels: the dispatched tiles differ from the reference ({} {})\n", s.name, m.name);
          return 1;
        }
        const double mb = double(n) / 1e6;
        fmt::print("{:<11} {:<5} {:>8.2f} {:>10.2f} {:>7.1f} {:>10.2f} {:>7.1f} {:>7.2f}x\n", s.name, m.name, mb, ts * 1e3,
                   2 * mb / 1e3 / ts, tv * 1e3, 2 * mb / 1e3 / tv, ts / tv);
        js["tiles"].push_back({{"shape", s.name}, {"mix", m.name}, {"code_mb", mb}, {"scalar_ms", ts * 1e3},
                               {"simd_ms", tv * 1e3}});
      }
    fmt::print("\nJSON {}\n", js.dump());
    return 0;
  }

  // ---- GEMV (T = 1)
  if (!gemm_only) {
  fmt::print("\nGEMV T=1, group size {}: microseconds (best of {}), GB/s of packed bytes, % of read bandwidth\n", gemv_gs,
             reps);
  fmt::print("{:<11} {:<5} {:>8} {:>9} {:>7} {:>6} {:>9} {:>7} {:>10} {:>7} {:>8} {:>9}\n", "shape", "mix", "MB",
             "cold_us", "GB/s", "%bw", "hot_us", "GB/s", "sgemv_us", "GB/s", "speedup", "max_err");
  for (const auto& s : shapes) {
    std::vector<float> w(size_t(s.rows * s.cols));  // (rows, cols) fp32 weights for sgemv: the dequantized layer
    const std::vector<float> x = random_x(s.cols, 7);
    std::vector<float> y(size_t(s.rows)), yref(size_t(s.rows));
    for (const Mix& m : kMixes) {
      const PackedLinear L = make_layer(s.rows, s.cols, mix_bits(s.cols / gemv_gs, m, rng), gemv_gs, 11);
      const double mb = double(L.packed_bytes()) / 1e6;
      LayerCopies copies(L, std::max(2, int(3 * kL3 / double(L.packed_bytes())) + 1));
      size_t next = 0;
      const int ncopies = int(copies.layers.size());
      const double cold = bench::best_time(std::max(reps, 2 * ncopies), [&] {
        copies.layers[next].matmul(x.data(), y.data(), 1);
        next = (next + 1) % size_t(ncopies);
      });
      const double hot = bench::best_time(reps, [&] { L.matmul(x.data(), y.data(), 1); });
      L.dequantize_rows(0, s.rows, w.data(), s.cols);
      // sgemv cold too: copies of the fp32 weights totalling > 3x L3 (one
      // copy stayed in a 260 MB L3).
      const int nw = std::max(1, int(3 * kL3 / (4.0 * double(w.size()))) + 1);
      std::vector<std::vector<float>> wc(size_t(nw - 1), w);
      size_t wnext = 0;
      const double sgemv = bench::best_time(std::max(reps, 2 * nw), [&] {
        const float* wp = wnext == 0 ? w.data() : wc[wnext - 1].data();
        wnext = (wnext + 1) % size_t(nw);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, int(s.rows), int(s.cols), 1.f, wp, int(s.cols), x.data(), 1, 0.f,
                    yref.data(), 1);
      });
      double err = 0, mag = 0;
      for (int64_t r = 0; r < s.rows; ++r) {
        err = std::max(err, double(std::fabs(y[size_t(r)] - yref[size_t(r)])));
        mag = std::max(mag, double(std::fabs(yref[size_t(r)])));
      }
      const double gbs = mb / 1e3 / cold, gbs_hot = mb / 1e3 / hot;
      const double sgemv_gbs = 4e-9 * double(s.rows * s.cols) / sgemv;  // fp32 weights read
      fmt::print("{:<11} {:<5} {:>8.2f} {:>9.1f} {:>7.1f} {:>5.0f}% {:>9.1f} {:>7.1f} {:>10.1f} {:>7.1f} {:>7.2f}x {:>9.1e}\n",
                 s.name, m.name, mb, cold * 1e6, gbs, 100 * gbs / bw, hot * 1e6, gbs_hot, sgemv * 1e6, sgemv_gbs,
                 sgemv / cold, err / mag);
      js["gemv"].push_back({{"shape", s.name}, {"mix", m.name}, {"packed_mb", mb}, {"cold_us", cold * 1e6},
                            {"cold_gbs", gbs}, {"hot_us", hot * 1e6}, {"sgemv_us", sgemv * 1e6}, {"sgemv_gbs", sgemv_gbs},
                            {"speedup_vs_sgemv", sgemv / cold}, {"frac_of_bw", gbs / bw}});
    }
  }
  }

  // ---- GEMV/GEMM crossover on 4096x4096 avg3 (hot: both paths read the same bytes)
  if (!gemv_only && !gemm_only) {
    const PackedLinear L = make_layer(4096, 4096, mix_bits(32, kMixes[1], rng), gs, 12);
    fmt::print("\nGEMV vs dequantize+sgemm paths, 4096x4096 avg3 (microseconds; matmul switches at T >= {})\n",
               pack_detail::gemm_min_tokens(L));
    fmt::print("{:>4} {:>10} {:>10}\n", "T", "gemv_us", "gemm_us");
    for (int64_t T : {1, 2, 4, 8, 12, 16, 24, 32, 48, 64}) {
      const std::vector<float> x = random_x(T * 4096, 3);
      std::vector<float> y(size_t(T * 4096));
      const double tv = bench::best_time(std::max(5, reps / 10),
                                         [&] { pack_detail::gemv_matmul(L, x.data(), y.data(), T, 4096, 4096); });
      const double tg = bench::best_time(std::max(5, reps / 10),
                                         [&] { pack_detail::gemm_matmul(L, x.data(), y.data(), T, 4096, 4096); });
      fmt::print("{:>4} {:>10.1f} {:>10.1f}\n", T, tv * 1e6, tg * 1e6);
      js["crossover"].push_back({{"T", T}, {"gemv_us", tv * 1e6}, {"gemm_us", tg * 1e6}});
    }
  }

  // ---- Fork/join threshold: small layers on one thread vs split
  if (!gemv_only && !gemm_only) {
    fmt::print("\nSmall layers, avg3, T=1: one thread vs {} threads (microseconds)\n", threads);
    fmt::print("{:>10} {:>9} {:>9}\n", "shape", "1 thread", "split");
    auto& tune = pack_detail::tuning();
    const int64_t saved = tune.parallel_min_work;
    for (int64_t n : {64, 128, 256, 512, 768, 1024, 2048}) {
      const PackedLinear L = make_layer(n, n, mix_bits(std::max<int64_t>(1, n / gs), kMixes[1], rng), gs, 13);
      const std::vector<float> x = random_x(n, 5);
      std::vector<float> y(static_cast<size_t>(n));
      tune.parallel_min_work = int64_t(1) << 62;
      const double one = bench::best_time(reps * 10, [&] { L.matmul(x.data(), y.data(), 1); });
      tune.parallel_min_work = 0;
      const double split = bench::best_time(reps * 10, [&] { L.matmul(x.data(), y.data(), 1); });
      fmt::print("{:>10} {:>9.2f} {:>9.2f}\n", fmt::format("{}x{}", n, n), one * 1e6, split * 1e6);
      js["threshold"].push_back({{"n", n}, {"one_us", one * 1e6}, {"split_us", split * 1e6}});
    }
    tune.parallel_min_work = saved;
  }

  // ---- GEMM (prefill): the exact path, the int8 GEMM and sgemm on fp32 weights, alternated per repeat
  if (!quick || gemm_only) {
    const double ceiling = maddubs_ceiling(5);
    js["maddubs_ceiling_gflops"] = ceiling;
    fmt::print("\nmatmul T>1: exact path, int8 GEMM, cblas_sgemm on fp32 weights (milliseconds, best of 3; GFLOP/s = 2 rows cols T)\n");
    fmt::print("int8 GEMM's instruction-mix ceiling (vpmaddubsw + vpaddw only, {} threads): {:.1f} GFLOP/s\n", threads, ceiling);
    fmt::print("{:<11} {:<5} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "shape", "mix", "T", "exact_ms", "int8_ms",
               "sgemm_ms", "exact_gf", "int8_gf", "sgemm_gf");
    auto& tune = pack_detail::tuning();
    const bool saved = tune.gemm_int8;
    for (const auto& s : shapes)
      for (int mi : {0, 1, 2}) {
        const Mix& m = kMixes[mi];
        if (!gemm_only && mi != 1) continue;
        const PackedLinear L = make_layer(s.rows, s.cols, mix_bits(s.cols / gs, m, rng), gs, 14);
        std::vector<float> w(size_t(s.rows * s.cols));  // (rows, cols)
        L.dequantize_rows(0, s.rows, w.data(), s.cols);
        for (int64_t T : {16, 64, 512}) {
          const std::vector<float> x = random_x(T * s.cols, 9);
          std::vector<float> y(size_t(T * s.rows));
          double te = 1e30, ti = 1e30, ts = 1e30;
          for (int rep = 0; rep < 3; ++rep) {
            tune.gemm_int8 = false;
            te = std::min(te, bench::best_time(1, [&] { L.matmul(x.data(), y.data(), T); }));
            tune.gemm_int8 = true;
            if (pack_detail::gemm_int8_applies(L))
              ti = std::min(ti, bench::best_time(1, [&] { L.matmul(x.data(), y.data(), T); }));
            ts = std::min(ts, bench::best_time(1, [&] {
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(s.rows), int(s.cols), 1.f, x.data(),
                          int(s.cols), w.data(), int(s.cols), 0.f, y.data(), int(s.rows));
            }));
          }
          tune.gemm_int8 = saved;
          const double flop = 2.0 * double(s.rows) * double(s.cols) * double(T);
          const bool has_int8 = ti < 1e29;
          fmt::print("{:<11} {:<5} {:>5} {:>9.2f} {:>9} {:>9.2f} {:>9.1f} {:>9} {:>9.1f}\n", s.name, m.name, T, te * 1e3,
                     has_int8 ? fmt::format("{:.2f}", ti * 1e3) : std::string("-"), ts * 1e3, flop / te / 1e9,
                     has_int8 ? fmt::format("{:.1f}", flop / ti / 1e9) : std::string("-"), flop / ts / 1e9);
          nlohmann::json row = {{"shape", s.name}, {"mix", m.name}, {"T", T}, {"packed_ms", te * 1e3}, {"sgemm_ms", ts * 1e3}};
          if (has_int8) row["int8_ms"] = ti * 1e3;
          js["gemm"].push_back(row);
        }
      }
  }
  fmt::print("\nJSON {}\n", js.dump());
  return 0;
}
