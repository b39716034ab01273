// Timing helpers shared by the benchmarks: best-of-n wall time and the
// machine's sgemm GFLOP/s, the baseline every benchmark prints beside its own
// numbers (absolute times are noisy on shared machines; ratios are not).
#pragma once
#include <cblas.h>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

namespace slim::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Best-of-n time of f(), in seconds.
template <typename F>
double best_time(int n, F&& f) {
  double best = 1e30;
  for (int i = 0; i < n; ++i) {
    auto t = Clock::now();
    f();
    best = std::min(best, seconds_since(t));
  }
  return best;
}

// GFLOP/s of C (M, N) = A (M, K) · Bᵀ with B (N, K): the shape of y = x Wᵀ.
inline double sgemm_gflops(int M, int N, int K, int reps) {
  std::vector<float> a(size_t(M) * K, 0.01f), b(size_t(N) * K, 0.02f), c(size_t(M) * N);
  double t = best_time(reps, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, a.data(), K, b.data(), K, 0.f, c.data(), N);
  });
  return 2.0 * M * N * K / t / 1e9;
}

// Worker threads for both OpenMP loops and OpenBLAS.
inline void set_threads(int n) {
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

// A linear's shape, rows x cols = out x in.
struct Shape {
  const char* name;
  int64_t rows, cols;
};

// Generated calibration for one input width: X = Z + Z2·M (rank-32
// correlation) with 8 outlier channels scaled x20, and H = 2/n XᵀX in fp64.
struct GeneratedCalib {
  std::vector<float> x;   // (tokens, cols), fp32 as the pipeline captures activations
  std::vector<double> h;  // (cols, cols), symmetric
};

inline GeneratedCalib make_calibration(int64_t cols, int64_t tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  const int64_t k = 32;
  std::vector<double> z2(size_t(tokens * k)), m(size_t(k * cols));  // (tokens, k), (k, cols)
  for (auto& v : z2) v = nd(rng);
  for (auto& v : m) v = 0.5 * nd(rng);
  std::vector<double> x(size_t(tokens * cols));  // (tokens, cols)
  for (auto& v : x) v = nd(rng);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(tokens), int(cols), int(k), 1.0, z2.data(), int(k),
              m.data(), int(cols), 1.0, x.data(), int(cols));
  for (int o = 0; o < 8; ++o) {
    const int64_t c = (o * 997 + 13) % cols;
    for (int64_t t = 0; t < tokens; ++t) x[size_t(t * cols + c)] *= 20.0;
  }
  GeneratedCalib cal;
  cal.h.assign(size_t(cols * cols), 0.0);
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, int(cols), int(tokens), 2.0 / double(tokens), x.data(),
              int(cols), 0.0, cal.h.data(), int(cols));
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = i + 1; j < cols; ++j) cal.h[size_t(j * cols + i)] = cal.h[size_t(i * cols + j)];
  cal.x.assign(x.begin(), x.end());
  return cal;
}

}  // namespace slim::bench
