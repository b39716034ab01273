// Speed and size of the lossless fp64 packing of the reductions over ranks
// (dist/wire_pack.h), next to a memcpy of the same fp64 buffer in the same run.
// The values are a Hessian share's: the fp32 SYRK batches of k windows of
// seeded activations added in fp64, as calib/hessian.cc adds them.
//   bench_wire_pack [--dim 2048] [--tokens 512] [--windows 1,2,4,16] [--threads 1,2] [--reps 5]
#include <fmt/format.h>

#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "dist/wire_pack.h"

namespace {

std::vector<int> int_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::stoi(item));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace slim;
  int dim = 2048, tokens = 512, reps = 5;
  std::vector<int> windows = {1, 2, 4, 16}, threads = {1, 2};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dim") dim = std::stoi(argv[i + 1]);
    else if (a == "--tokens") tokens = std::stoi(argv[i + 1]);
    else if (a == "--windows") windows = int_list(argv[i + 1]);
    else if (a == "--threads") threads = int_list(argv[i + 1]);
    else if (a == "--reps") reps = std::stoi(argv[i + 1]);
    else {
      fmt::print(stderr, "unknown option {}\n", a);
      return 2;
    }
  }
  // Activations with per-feature scales (a few outlier features), like a block's inputs.
  std::mt19937 g(11);
  std::normal_distribution<float> nd;
  std::student_t_distribution<float> td(3);
  std::vector<float> scale(static_cast<size_t>(dim));
  for (auto& s : scale) s = std::fabs(td(g)) * 0.5f + 0.05f;
  for (int j = 0; j < std::min(dim, 8); ++j) scale[size_t(j)] *= 30;
  std::vector<float> x(size_t(tokens) * dim), batch(size_t(dim) * dim);
  const int64_t n = int64_t(dim) * (dim + 1) / 2;
  std::vector<double> sum(static_cast<size_t>(n), 0.0), copy(static_cast<size_t>(n)), back(static_cast<size_t>(n));
  fmt::print("{} x {} Hessian share ({} values, {:.1f} MB as fp64), windows of {} tokens\n", dim, dim, n, n * 8 / 1e6,
             tokens);
  fmt::print("{:>8} {:>8} {:>12} {:>13} {:>15} {:>15}\n", "windows", "threads", "bytes/value", "memcpy GB/s",
             "pack GB/s fp64", "unpack GB/s");
  int added = 0;
  for (int k : windows) {
    for (; added < k; ++added) {
      for (int t = 0; t < tokens; ++t)
        for (int j = 0; j < dim; ++j) x[size_t(t) * dim + j] = nd(g) * scale[size_t(j)];
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, dim, tokens, 1.f, x.data(), dim, 0.f, batch.data(), dim);
      int64_t p = 0;
      for (int i = 0; i < dim; ++i)
        for (int j = i; j < dim; ++j) sum[size_t(p++)] += batch[size_t(i) * dim + j];
    }
    for (int th : threads) {
      omp_set_num_threads(th);
      std::vector<std::byte> packed;
      const double t_copy = bench::best_time(reps, [&] { std::memcpy(copy.data(), sum.data(), size_t(n) * 8); });
      const double t_pack = bench::best_time(reps, [&] { packed = dist::pack_doubles(sum); });
      const double t_unpack = bench::best_time(reps, [&] { dist::unpack_doubles(packed, back, "bench"); });
      if (std::memcmp(back.data(), sum.data(), size_t(n) * 8) != 0) {
        fmt::print(stderr, "unpacked values differ\n");
        return 1;
      }
      const double gb = double(n) * 8 / 1e9;
      fmt::print("{:>8} {:>8} {:>12.3f} {:>13.2f} {:>15.2f} {:>15.2f}\n", k, th, double(packed.size()) / double(n),
                 gb / t_copy, gb / t_pack, gb / t_unpack);
    }
  }
  return 0;
}
