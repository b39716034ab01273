// SQC's visiting orders (sqc.h SqcPlan) on real and generated rows: how far
// the approximate local refinement's objective is from the full grid's, and
// what fraction of the 16-element blocks each order evaluates (pruning).
// Not a timing: counts and objective values only, so it is not disturbed by
// a shared machine.
//
//   build/bench/bench_sqc_order [--model stories260K] [--coarse K] [--p-min P]
//
// Real rows: every row x group of every decoder-block linear of the model
// (original weights, unweighted objective, as the default λ = 1).
#include <fmt/format.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "io/model_source.h"
#include "quant/quantizer.h"
#include "quant/sqc.h"
#include "quant/sqc_kernel.h"

using namespace slim;

namespace {

struct Tally {
  int64_t rows = 0, missed = 0, blocks_plain = 0, blocks_exact = 0, blocks_local = 0, blocks_full = 0;
  double sum_excess = 0, worst = 0;
};

// Fits one row with the plain grid, the exact coarse-first order and the
// local refinement; tallies objective excess and evaluated blocks.
void measure(std::span<const float> w, int bits, const std::array<float, 101>& grid, const SqcPlan& exact,
             const SqcPlan& local, Tally& t) {
  sqc_kernel::Stats& st = sqc_kernel::thread_stats();
  const int64_t b0 = st.blocks, f0 = st.blocks_full;
  const QuantParams plain = sqc_fit_row(w, {}, bits, grid);
  const int64_t b1 = st.blocks, f1 = st.blocks_full;
  (void)sqc_fit_row(w, {}, bits, exact);
  const int64_t b2 = st.blocks;
  const QuantParams approx = sqc_fit_row(w, {}, bits, local);
  t.blocks_plain += b1 - b0;
  t.blocks_exact += b2 - b1;
  t.blocks_local += st.blocks - b2;
  t.blocks_full += f1 - f0;  // the plain grid without pruning: 101 x blocks
  const double of = sqc_row_objective(w, {}, plain, bits), oa = sqc_row_objective(w, {}, approx, bits);
  const double ex = of > 0 ? oa / of - 1 : 0;
  t.sum_excess += ex;
  t.worst = std::max(t.worst, ex);
  t.missed += ex > 0;
  ++t.rows;
}

void print(const std::string& what, int bits, const Tally& t) {
  fmt::print("{:<28} {:>4} {:>8} {:>8} {:>11.4f}% {:>9.3f}% | {:>6.1f}% {:>6.1f}% {:>6.1f}%\n", what, bits, t.rows,
             t.missed, 100 * t.sum_excess / double(std::max<int64_t>(t.rows, 1)), 100 * t.worst,
             100.0 * double(t.blocks_plain) / double(t.blocks_full),
             100.0 * double(t.blocks_exact) / double(t.blocks_full),
             100.0 * double(t.blocks_local) / double(t.blocks_full));
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = kDefaultModel;
  int coarse = 5;
  double p_min = 0.5;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
    else if (!std::strcmp(argv[i], "--coarse") && i + 1 < argc) coarse = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--p-min") && i + 1 < argc) p_min = std::atof(argv[++i]);
    else {
      fmt::print(stderr, "usage: bench_sqc_order [--model M] [--coarse K] [--p-min P]\n");
      return 2;
    }
  }
  const auto grid = sqc_grid(p_min);
  const SqcPlan exact = make_sqc_plan(grid, coarse, false), local = make_sqc_plan(grid, coarse, true);
  fmt::print("SQC grid p_min {:g}, coarse stride {}; objective of the local refinement vs the full grid, and "
             "blocks evaluated (% of 101 x blocks) by plain / exact coarse-first / local\n",
             p_min, coarse);
  fmt::print("{:<28} {:>4} {:>8} {:>8} {:>12} {:>10} | {:>7} {:>7} {:>7}\n", "rows", "bits", "n", "off-opt",
             "mean excess", "worst", "plain", "exact", "local");
  LoadedModel lm = open_model(model, "", false);
  for (int gs : {16, 64}) {
    for (int bits : {2, 3, 4}) {
      Tally t;
      for (auto& blk : lm.model.weights.blocks)
        for (auto& ref : blk.linears()) {
          const Linear& L = *ref.linear;
          const float* w = L.w.data();
          for (int64_t r = 0; r < L.out(); ++r)
            for (int64_t c0 = 0; c0 < L.in(); c0 += gs)
              measure({w + r * L.in() + c0, size_t(std::min<int64_t>(gs, L.in() - c0))}, bits, grid, exact, local,
                      t);
        }
      print(fmt::format("{} g{}", model, gs), bits, t);
    }
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.02f);
  for (int bits : {2, 3, 4}) {
    Tally t;
    std::vector<float> w(128);
    for (int i = 0; i < 20000; ++i) {
      for (auto& v : w) v = nd(rng);
      measure(w, bits, grid, exact, local, t);
    }
    print("generated N(0,.02) g128", bits, t);
  }
  return 0;
}
