// SBA's error tables with the rows divided among the ranks
// (quant/alloc.h group_errors_over_ranks) against the one-process table
// (group_errors), run under `mpirun -np N` by tests/cli/mpi_test.sh. Every
// rank builds the same weights and H and compares the tables byte for byte:
// the terms of each 64-row block are the same numbers on every route and are
// added in the same order, so nothing may differ. Shapes: several row blocks
// shared unevenly (300 rows: 5 blocks), one block (fewer blocks than ranks),
// a short last column group, a dead column; both error criteria.
//   alloc_ranks_check          exit 0 and "N ranks: all checks passed", else 1
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dist/comm.h"
#include "quant/alloc.h"
#include "util/error.h"

using namespace slim;

namespace {

int failures = 0;

void check_shape(int64_t rows, int64_t cols, int group_size, AllocCriterion crit, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> N(0.0, 1.0);
  std::vector<float> w(size_t(rows * cols));
  for (float& v : w) v = float(N(rng));
  // (cols, cols) H = X Xᵀ / k, one input channel dead (its row and column 0).
  const int64_t k = cols + 16, dead = cols / 3;
  std::vector<double> x(size_t(cols * k)), h(size_t(cols * cols), 0.0), u_diag(static_cast<size_t>(cols));
  for (double& v : x) v = N(rng);
  for (int64_t t = 0; t < k; ++t) x[size_t(dead * k + t)] = 0.0;
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int64_t t = 0; t < k; ++t) s += x[size_t(i * k + t)] * x[size_t(j * k + t)];
      h[size_t(i * cols + j)] = s / double(k);
    }
  for (double& u : u_diag) u = 0.5 + std::abs(N(rng));
  const HessianBlocks hb = hessian_blocks(h, cols, group_size);
  const GroupErrors one = group_errors(w, rows, cols, hb, u_diag, group_size, 1, 3, crit);
  const GroupErrors ranks = group_errors_over_ranks(w, rows, cols, hb, u_diag, group_size, 1, 3, crit);
  const bool same = one.err.size() == ranks.err.size() && one.movable == ranks.movable &&
                    std::memcmp(one.err.data(), ranks.err.data(), one.err.size() * sizeof(double)) == 0;
  if (!same) {
    ++failures;
    fmt::print("rank {}: FAIL {}x{} g{} {}: the table over ranks differs from one process's\n", dist::rank(), rows,
               cols, group_size, crit == AllocCriterion::obs ? "obs" : "hessian");
    for (size_t i = 0; i < std::min(one.err.size(), ranks.err.size()); ++i)
      if (one.err[i] != ranks.err[i]) {
        fmt::print("  entry {}: {} vs {}\n", i, ranks.err[i], one.err[i]);
        break;
      }
  }
}

}  // namespace

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  int rc = 0;
  try {
    uint64_t seed = 1;
    for (AllocCriterion crit : {AllocCriterion::hessian, AllocCriterion::obs}) {
      check_shape(300, 200, 32, crit, seed++);  // 5 row blocks; 7 groups, the last 8 wide
      check_shape(50, 96, 16, crit, seed++);    // one row block: ranks without rows
      check_shape(200, 128, 128, crit, seed++); // one group
    }
    double bad_sum = failures;
    dist::allreduce_sum({&bad_sum, 1});
    const int bad = int(bad_sum);
    if (dist::is_root()) {
      if (bad == 0) fmt::print("{} ranks: all checks passed\n", dist::size());
      else fmt::print("{} ranks: {} checks failed\n", dist::size(), bad);
    }
    rc = bad == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print("rank {}: {}\n", dist::rank(), e.what());
    dist::abort(1);
  }
  dist::finalize();
  return rc;
}
