// Timing helpers shared by the benchmarks: best-of-n wall time and the
// machine's sgemm GFLOP/s, the baseline every benchmark prints beside its own
// numbers (absolute times are noisy on shared machines; ratios are not).
#pragma once
#include <cblas.h>

#include <algorithm>
#include <chrono>
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

}  // namespace slim::bench
