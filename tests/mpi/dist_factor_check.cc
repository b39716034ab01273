// The GPTQ factor built by all ranks (quant/gptq_ranks.h gptq_factor_over_ranks,
// ScaLAPACK) against the one-process factor (gptq_factor, LAPACK), run under
// `mpirun -np N` by tests/cli/dist_factor_test.sh. Every rank builds both
// from the same matrix and compares:
//   U (fp32): max |U_ranks - U_one| <= 1e-6 * max |U_one| (the fp64 arithmetic
//     runs in another order; what is left after rounding to fp32 is ~1 ulp);
//   u_diag (fp64): relative 1e-9; perm, dead columns, damp used and retries equal;
//   a Hessian that needs damping retries takes the same number on both routes;
//   one that stays indefinite fails with the same message on both.
// Block size 16 on a few hundred columns: many blocks per rank.
//   dist_factor_check                     the checks above (exit 1 on a mismatch)
//   dist_factor_check --bench N [BLOCK]   seconds of one N-wide factor: LAPACK
//                                         with one rank, ScaLAPACK with several
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "../error_of.h"
#include "dist/comm.h"
#include "calib/hessian.h"
#include "dist/factor.h"
#include "quant/gptq.h"
#include "quant/gptq_ranks.h"
#include "util/error.h"

using namespace slim;
using slim::test::error_of;

namespace {

// (n, n) H = M Mᵀ / k for M (n, k) normal, k > n: SPD, condition ~ (1+sqrt(n/k))²/(1-sqrt(n/k))².
std::vector<double> random_spd(int64_t n, int64_t k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> N(0.0, 1.0);
  std::vector<double> m(size_t(n * k)), h(size_t(n * n), 0.0);
  for (double& v : m) v = N(rng);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t t = 0; t < k; ++t) s += m[size_t(i * k + t)] * m[size_t(j * k + t)];
      h[size_t(i * n + j)] = h[size_t(j * n + i)] = s / double(k);
    }
  return h;
}

int failures = 0;
void expect(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    fmt::print("rank {}: FAIL {}\n", dist::rank(), what);
  }
}

// Two factors over ranks that must be the same bits: from the whole H and from its slices.
void expect_same_bits(const std::string& name, const GptqFactor& a, const GptqFactor& b) {
  expect(a.u == b.u && a.u_diag == b.u_diag && a.perm == b.perm && a.dead == b.dead &&
             a.damp_used == b.damp_used && a.damp_retries == b.damp_retries,
         name + ": the factor from slices differs from the factor from the whole Hessian");
}

// This rank's share of h's packed upper triangle, doubled, with scale 1/2
// (exact), as HessianAccumulator::reduce_over_ranks(kSliced) leaves it.
std::vector<double> my_slice(std::span<const double> h, int64_t n, int64_t& begin) {
  const dist::Share s = dist::my_share(n * (n + 1) / 2);
  begin = s.begin;
  std::vector<double> packed;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) {
      const int64_t k = dist::packed_upper_index(n, i, j);
      if (k >= s.begin && k < s.end) packed.push_back(2 * h[size_t(i * n + j)]);
    }
  return packed;
}

void compare(const std::string& name, std::span<const double> h, int64_t n, const GptqOptions& opt, int block) {
  const GptqFactor one = gptq_factor(h, n, opt);
  const GptqFactor all = gptq_factor_over_ranks(h, n, opt, block);
  {
    int64_t begin = 0;
    const std::vector<double> packed = my_slice(h, n, begin);
    std::vector<double> diag(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) diag[size_t(i)] = h[size_t(i * n + i)];
    expect_same_bits(name, all, gptq_factor_over_ranks(dist::SymmetricSlice{packed, begin, 0.5}, diag, n, opt, block));
  }
  double umax = 0, dmax = 0, ddiag = 0;
  for (size_t i = 0; i < one.u.size(); ++i) {
    umax = std::max(umax, double(std::fabs(one.u[i])));
    dmax = std::max(dmax, double(std::fabs(one.u[i] - all.u[i])));
  }
  for (int64_t i = 0; i < n; ++i)
    ddiag = std::max(ddiag, std::fabs(one.u_diag[size_t(i)] - all.u_diag[size_t(i)]) / one.u_diag[size_t(i)]);
  expect(all.u.size() == one.u.size() && dmax <= 1e-6 * umax,
         fmt::format("{}: max |dU| {:.3g} against max |U| {:.3g}", name, dmax, umax));
  expect(ddiag <= 1e-9, fmt::format("{}: u_diag relative difference {:.3g}", name, ddiag));
  expect(all.perm == one.perm && all.dead == one.dead && all.dead_columns == one.dead_columns,
         name + ": permutation or dead columns differ");
  expect(all.damp_used == one.damp_used && all.damp_retries == one.damp_retries,
         fmt::format("{}: damp {:g} / {} retries over ranks, {:g} / {} on one", name, all.damp_used,
                     all.damp_retries, one.damp_used, one.damp_retries));
  if (dist::is_root())
    fmt::print("{}: n {} block {}: max |dU| / max |U| = {:.3g}, u_diag rel {:.3g}, retries {} / {}, dead {}\n", name,
               n, block, dmax / umax, ddiag, all.damp_retries, one.damp_retries, all.dead_columns);
}

int checks() {
  GptqOptions opt;
  const int64_t n = 300;
  const std::vector<double> spd = random_spd(n, 2 * n, 1);
  compare("spd", spd, n, opt, 16);
  compare("spd, block 7", spd, n, opt, 7);  // blocks that do not divide n

  // act-order with dead columns and a spread diagonal.
  const int64_t m = 257;
  std::vector<double> h = random_spd(m, 3 * m, 2);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) h[size_t(i * m + j)] *= (1.0 + 0.01 * double(i % 13)) * (1.0 + 0.01 * double(j % 13));
  for (int64_t d : {5, 100, 256})
    for (int64_t j = 0; j < m; ++j) h[size_t(d * m + j)] = h[size_t(j * m + d)] = 0.0;
  GptqOptions ao = opt;
  ao.act_order = true;
  compare("act-order + dead columns", h, m, ao, 16);

  // Indefinite by a shift that 1% damping cannot cover: retries on both routes.
  std::vector<double> ind = random_spd(n, n + 20, 3);  // nearly singular
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += ind[size_t(i * n + i)] / double(n);
  for (int64_t i = 0; i < n; ++i) ind[size_t(i * n + i)] -= 0.05 * mean;
  compare("indefinite, retried", ind, n, opt, 16);

  // Indefinite, no retries allowed: the same error on both routes, on every rank.
  GptqOptions few = opt;
  few.max_damp_retries = 0;
  const std::string e1 = error_of([&] { gptq_factor(ind, n, few); });
  const std::string en = error_of([&] { gptq_factor_over_ranks(ind, n, few, 16); });
  expect(!e1.empty() && e1 == en, fmt::format("not-PD failure: one process '{}', ranks '{}'", e1, en));
  if (dist::is_root()) fmt::print("not PD without retries: '{}' on both routes\n", en);

  // The pipeline's path: every rank accumulates its own activations; the
  // accumulator reduced to slices gives the factor of the one reduced to every rank.
  {
    const int64_t d = 203;
    HessianAccumulator whole(d), sliced(d);
    std::mt19937 rng(uint32_t(11 + dist::rank()));
    std::normal_distribution<float> N(0.f, 1.f);
    std::vector<float> x(size_t(3 * d * d));
    for (int seq = 0; seq < 2; ++seq) {
      for (float& v : x) v = N(rng);
      whole.add(x.data(), 3 * d);
      sliced.add(x.data(), 3 * d);
    }
    whole.reduce_over_ranks(HessianAccumulator::kEveryRank);
    sliced.reduce_over_ranks(HessianAccumulator::kSliced);
    const std::vector<double> h = whole.hessian();
    bool diag_same = true;
    for (int64_t i = 0; i < d; ++i) diag_same = diag_same && sliced.slice_diagonal()[size_t(i)] == h[size_t(i * d + i)];
    expect(diag_same && sliced.sequences() == whole.sequences(), "accumulator: slices' diagonal or count differs");
    expect_same_bits("accumulator", gptq_factor_over_ranks(h, d, opt, 16),
                     gptq_factor_over_ranks(sliced.slice(), sliced.slice_diagonal(), d, opt, 16));
    expect(error_of([&] { sliced.hessian(); }).find("does not hold") != std::string::npos,
           "accumulator: a rank holding a slice handed out a whole Hessian");
    if (dist::is_root()) fmt::print("accumulator reduced to slices: the same factor bits as reduced to every rank\n");
  }

  double bad = failures;
  dist::allreduce_sum({&bad, 1});
  if (dist::is_root()) fmt::print("{} ranks: {}\n", dist::size(), bad == 0 ? "all checks passed" : "FAILED");
  return bad == 0 ? 0 : 1;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// One n-wide factor: diagonally dominant symmetric (SPD, cheap to make; the
// factor's cost does not depend on the values).
int bench(int64_t n, int block) {
  std::vector<double> h(size_t(n * n));
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> U(-1.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j) h[size_t(i * n + j)] = h[size_t(j * n + i)] = 0.1 * U(rng);
    h[size_t(i * n + i)] = double(n);
  }
  GptqOptions opt;
  dist::barrier();
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const GptqFactor f = dist::size() == 1 ? gptq_factor(h, n, opt) : gptq_factor_over_ranks(h, n, opt, block);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // CPU seconds of every rank (on a shared machine the wall time depends on the
  // others' load; MPI's busy waiting counts here, so it is an upper bound).
  double cpu = cpu_seconds() - cpu0;
  dist::allreduce_sum({&cpu, 1});
  if (dist::is_root())
    fmt::print("factor n {} ranks {} block {} route {}: {:.2f} s wall, {:.2f} CPU s over all ranks (u[0] {:.6g})\n",
               n, dist::size(), block, dist::size() == 1 ? "LAPACK" : "ScaLAPACK", s, cpu, f.u[0]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  int rc = 0;
  try {
    if (!dist::factor_over_ranks_available()) {
      fmt::print("skip: built without ScaLAPACK\n");
      rc = 77;
    } else if (argc >= 3 && std::strcmp(argv[1], "--bench") == 0) {
      rc = bench(std::atoll(argv[2]), argc >= 4 ? std::atoi(argv[3]) : 64);
    } else {
      rc = checks();
    }
  } catch (const std::exception& e) {
    fmt::print("rank {}: {}\n", dist::rank(), e.what());
    dist::abort(1);
  }
  dist::finalize();
  return rc;
}
