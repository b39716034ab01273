#include "quant/alloc.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <cstring>
#include <queue>

#include "dist/comm.h"
#include "quant/quantizer.h"
#include "util/error.h"

namespace slim {

AllocCriterion parse_alloc_criterion(const std::string& s) {
  if (s == "obs") return AllocCriterion::obs;
  if (s == "hessian") return AllocCriterion::hessian;
  fail("unknown SBA error criterion '{}' (kl, obs, hessian)", s);
}

namespace {

// Rows per task of the error tables. One task = one group x one block of
// rows at every width: its errors E (n_bits·kBlockRows, wd) go through ONE
// GEMM against H_gg, instead of one multi-threaded GEMM per group and width
// (3 per group, each with a fork/join and a serial reduction after it).
// 64 rows keep E and E·H_gg in L2 (3·64·128 doubles = 192 KiB each at g128).
constexpr int64_t kBlockRows = 64;

}  // namespace

namespace {
// hessian_blocks' shared part: entry (i, j) of H from `at`, group by group.
template <class At>
HessianBlocks blocks_from(int64_t cols, int group_size, At at) {
  SLIM_CHECK(cols > 0, "alloc: Hessian blocks of a {}-wide input", cols);
  HessianBlocks hb;
  hb.cols = cols;
  hb.gw = std::min<int64_t>(cols, group_width(cols, group_size));
  const int64_t G = n_groups(cols, group_size), gw = hb.gw;
  hb.blocks.assign(size_t(G * gw * gw), 0.0);
#pragma omp parallel for schedule(static) if (G * gw * gw > (1 << 16))
  for (int64_t g = 0; g < G; ++g) {
    const int64_t c0 = g * gw, wd = std::min(gw, cols - c0);
    double* b = hb.blocks.data() + g * gw * gw;
    for (int64_t i = 0; i < wd; ++i)
      for (int64_t j = 0; j < wd; ++j) b[i * gw + j] = at(c0 + i, c0 + j);
  }
  return hb;
}
}  // namespace

HessianBlocks hessian_blocks(std::span<const double> h, int64_t cols, int group_size) {
  SLIM_CHECK(int64_t(h.size()) == cols * cols, "alloc: Hessian has {} values, expected {}x{}", h.size(), cols, cols);
  return blocks_from(cols, group_size, [&](int64_t i, int64_t j) { return h[size_t(i * cols + j)]; });
}

HessianBlocks hessian_blocks(const dist::SymmetricSlice& whole, int64_t cols, int group_size) {
  SLIM_CHECK(whole.begin == 0 && int64_t(whole.packed.size()) == cols * (cols + 1) / 2,
             "alloc: a packed {}-wide Hessian needs {} values from 0, got {} from {}", cols, cols * (cols + 1) / 2,
             whole.packed.size(), whole.begin);
  return blocks_from(cols, group_size, [&](int64_t i, int64_t j) {
    return whole.scale * whole.packed[size_t(dist::packed_upper_index(cols, std::min(i, j), std::max(i, j)))];
  });
}

GroupErrors group_errors(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> h,
                         std::span<const double> u_diag, int group_size, int bits_lo, int bits_hi,
                         AllocCriterion crit) {
  return group_errors(w, rows, cols, hessian_blocks(h, cols, group_size), u_diag, group_size, bits_lo, bits_hi, crit);
}

namespace {

// group_errors' checks, and its table with the sums still at zero.
GroupErrors empty_table(std::span<const float> w, int64_t rows, int64_t cols, const HessianBlocks& h,
                        std::span<const double> u_diag, int group_size, int bits_lo, int bits_hi) {
  SLIM_CHECK(rows > 0 && cols > 0 && int64_t(w.size()) == rows * cols, "alloc: weight has {} values, expected {}x{}",
             w.size(), rows, cols);
  SLIM_CHECK(h.cols == cols && h.gw == std::min<int64_t>(cols, group_width(cols, group_size)) &&
                 int64_t(h.blocks.size()) == n_groups(cols, group_size) * h.gw * h.gw,
             "alloc: Hessian blocks of {} columns in groups of {} for a {}-wide linear in groups of {}", h.cols, h.gw,
             cols, group_size);
  SLIM_CHECK(int64_t(u_diag.size()) == cols, "alloc: U diagonal has {} values for {} columns", u_diag.size(), cols);
  SLIM_CHECK(bits_lo >= 1 && bits_hi <= 8 && bits_lo <= bits_hi, "alloc: bit range {}..{} outside 1..8", bits_lo,
             bits_hi);
  const int64_t G = n_groups(cols, group_size), gw = group_width(cols, group_size);
  GroupErrors ge;
  ge.rows = rows;
  ge.cols = cols;
  ge.group_size = group_size;
  ge.bits_lo = bits_lo;
  ge.n_bits = bits_hi - bits_lo + 1;
  ge.err.assign(size_t(G * ge.n_bits), 0.0);
  ge.movable.assign(size_t(G), true);
  if (group_size > 0 && cols % gw != 0) ge.movable[size_t(G - 1)] = false;
  return ge;
}

int64_t row_blocks(int64_t rows) { return (rows + kBlockRows - 1) / kBlockRows; }

// The table's terms for the row blocks [rb0, rb1): terms[((g·(rb1 − rb0) +
// rb − rb0)·n_bits + k], one per group, block of kBlockRows rows and width
// bits_lo + k. `ge` gives the shape (empty_table).
std::vector<double> error_terms(const GroupErrors& ge, std::span<const float> w, const HessianBlocks& h,
                                std::span<const double> u_diag, AllocCriterion crit, int64_t rb0, int64_t rb1) {
  const int64_t rows = ge.rows, cols = ge.cols;
  const int64_t G = n_groups(cols, ge.group_size), gw = group_width(cols, ge.group_size);
  std::vector<char> dead(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) dead[size_t(c)] = h.diagonal(c) == 0.0;
  const int nb = ge.n_bits, bits_lo = ge.bits_lo;
  const int64_t nbl = rb1 - rb0, tasks = G * nbl;
  std::vector<double> partial(static_cast<size_t>(tasks * nb), 0.0);
#pragma omp parallel if (nbl * kBlockRows * cols >= (1 << 16))
  {
    std::vector<float> seg(static_cast<size_t>(gw));
    std::vector<double> E(static_cast<size_t>(nb * kBlockRows * gw)), F;  // (nb·nr, wd) errors, E·H_gg
    if (crit == AllocCriterion::hessian) F.resize(E.size());
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t g = t / nbl, r0 = (rb0 + t % nbl) * kBlockRows, nr = std::min(kBlockRows, rows - r0);
      const int64_t c0 = g * gw, wd = std::min(gw, cols - c0), m = nb * nr;
      // Row i of E at width bits_lo + k is E[(k·nr + i)·wd ...].
      for (int64_t i = 0; i < nr; ++i) {
        for (int64_t c = 0; c < wd; ++c)
          seg[size_t(c)] = dead[size_t(c0 + c)] ? 0.f : w[size_t((r0 + i) * cols + c0 + c)];
        const std::span<const float> sv(seg.data(), size_t(wd));
        for (int k = 0; k < nb; ++k) {
          const int b = bits_lo + k;
          const QuantParams p = fit_minmax(sv, b);
          double* e = E.data() + (k * nr + i) * wd;
          for (int64_t c = 0; c < wd; ++c) e[c] = double(seg[size_t(c)]) - fake_quant(seg[size_t(c)], p, b);
        }
      }
      double* out = partial.data() + t * nb;
      if (crit == AllocCriterion::obs) {
        for (int k = 0; k < nb; ++k)
          for (int64_t i = 0; i < nr * wd; ++i) {
            const double e = E[size_t(k * nr * wd + i)], u = u_diag[size_t(c0 + i % wd)];
            out[k] += e * e / (u * u);
          }
      } else {
        // tr(E H_gg Eᵀ) for every width at once: (nb·nr, wd) x (wd, wd), then Σ E∘F
        // per width. OpenBLAS (OpenMP build) runs single-threaded inside this region.
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(wd), int(wd), 1.0, E.data(), int(wd),
                    h.block(g), int(h.gw), 0.0, F.data(), int(wd));
        for (int k = 0; k < nb; ++k)
          for (int64_t i = k * nr * wd; i < (k + 1) * nr * wd; ++i) out[k] += E[size_t(i)] * F[size_t(i)];
      }
    }
  }
  return partial;
}

// ge.err += the terms of every row block (error_terms over [0, row_blocks)),
// group by group in row-block order: the order that makes the table the same
// for any thread count and any number of ranks.
void add_terms(GroupErrors& ge, std::span<const double> terms) {
  const int64_t G = int64_t(ge.movable.size()), blocks = row_blocks(ge.rows);
  const int nb = ge.n_bits;
  SLIM_CHECK(int64_t(terms.size()) == G * blocks * nb, "internal: {} error terms for {} x {} x {}", terms.size(), G,
             blocks, nb);
  for (int64_t t = 0; t < G * blocks; ++t)
    for (int k = 0; k < nb; ++k) ge.err[size_t(t / blocks * nb + k)] += terms[size_t(t * nb + k)];
}

}  // namespace

GroupErrors group_errors(std::span<const float> w, int64_t rows, int64_t cols, const HessianBlocks& h,
                         std::span<const double> u_diag, int group_size, int bits_lo, int bits_hi,
                         AllocCriterion crit) {
  GroupErrors ge = empty_table(w, rows, cols, h, u_diag, group_size, bits_lo, bits_hi);
  add_terms(ge, error_terms(ge, w, h, u_diag, crit, 0, row_blocks(rows)));
  return ge;
}

GroupErrors group_errors_over_ranks(std::span<const float> w, int64_t rows, int64_t cols, const HessianBlocks& h,
                                    std::span<const double> u_diag, int group_size, int bits_lo, int bits_hi,
                                    AllocCriterion crit) {
  if (dist::size() == 1) return group_errors(w, rows, cols, h, u_diag, group_size, bits_lo, bits_hi, crit);
  GroupErrors ge = empty_table(w, rows, cols, h, u_diag, group_size, bits_lo, bits_hi);
  const int64_t G = int64_t(ge.movable.size()), blocks = row_blocks(rows), nb = ge.n_bits;
  const dist::Share mine = dist::my_share(blocks);
  const std::vector<double> my_terms = error_terms(ge, w, h, u_diag, crit, mine.begin, mine.end);
  const std::vector<std::byte> all = dist::allgather(std::as_bytes(std::span(my_terms)));
  SLIM_CHECK(int64_t(all.size()) == G * blocks * nb * int64_t(sizeof(double)),
             "internal: gathered {} bytes of error terms, expected {}", all.size(), G * blocks * nb * 8);
  // Rank order is row-block order within each group: (rank, g, block) -> (g, block).
  std::vector<double> terms(size_t(G * blocks * nb));
  size_t at = 0;
  for (int r = 0; r < dist::size(); ++r) {
    const dist::Share s = dist::share_of(blocks, r, dist::size());
    for (int64_t g = 0; g < G; ++g) {
      const size_t n = size_t(s.count() * nb) * sizeof(double);
      std::memcpy(terms.data() + (g * blocks + s.begin) * nb, all.data() + at, n);
      at += n;
    }
  }
  add_terms(ge, terms);
  return ge;
}

double output_energy(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> h) {
  SLIM_CHECK(int64_t(w.size()) == rows * cols && int64_t(h.size()) == cols * cols, "alloc: output_energy shapes");
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (rows * cols > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const float* wr = w.data() + r * cols;
    double s = 0;
    for (int64_t i = 0; i < cols; ++i) {
      const double* hr = h.data() + i * cols;
      double t = 0;
      for (int64_t j = 0; j < cols; ++j) t += hr[j] * wr[j];
      s += wr[i] * t;
    }
    total += s;
  }
  return total;
}

namespace {

struct GroupRef {
  size_t layer;
  int64_t group;
};

// One class: groups of equal step cost. curve[i] = summed error with net step
// count d = d_min + i; pops[i] = the group raised by the (i+1)-th step.
struct ClassCurve {
  int64_t step_weights = 0;
  int64_t d_min = 0;
  std::vector<double> curve;
  std::vector<size_t> pops;  // index into members
  std::vector<GroupRef> members;
};

// Marginal error decrease of each step of one group, replaced by the slopes
// of the lower convex hull of its curve, so the greedy order never takes a
// cheap step just because the next one is steep (non-convex curves).
std::vector<double> hull_gains(const std::vector<double>& e) {
  const size_t n = e.size();
  std::vector<size_t> hull;  // indices of hull vertices
  for (size_t i = 0; i < n; ++i) {
    while (hull.size() >= 2) {
      const size_t a = hull[hull.size() - 2], b = hull.back();
      // b is above the segment a-i: drop it.
      if ((e[b] - e[a]) * double(i - a) >= (e[i] - e[a]) * double(b - a)) hull.pop_back();
      else break;
    }
    hull.push_back(i);
  }
  std::vector<double> gains(n - 1);
  for (size_t k = 0; k + 1 < hull.size(); ++k) {
    const double slope = (e[hull[k]] - e[hull[k + 1]]) / double(hull[k + 1] - hull[k]);
    for (size_t s = hull[k]; s < hull[k + 1]; ++s) gains[s] = slope;
  }
  return gains;
}

void build_curve(ClassCurve& cc, std::span<const GroupErrors> layers, const AllocOptions& opt) {
  const int lo = opt.bits - 1, steps = 1 + opt.max_up;
  const size_t n = cc.members.size();
  std::vector<std::vector<double>> gains(n);
  std::vector<std::vector<double>> errs(n);
  double e = 0;
  for (size_t m = 0; m < n; ++m) {
    const GroupErrors& ge = layers[cc.members[m].layer];
    for (int b = lo; b <= lo + steps; ++b) errs[m].push_back(ge.at(cc.members[m].group, b));
    gains[m] = hull_gains(errs[m]);
    e += errs[m][0];
  }
  cc.d_min = -int64_t(n);
  cc.curve.assign(1, e);
  // Max-heap on gain; ties go to the earlier (layer, group): deterministic.
  using Item = std::pair<double, size_t>;
  auto cmp = [](const Item& a, const Item& b) { return a.first < b.first || (a.first == b.first && a.second > b.second); };
  std::priority_queue<Item, std::vector<Item>, decltype(cmp)> pq(cmp);
  std::vector<int> level(n, 0);
  for (size_t m = 0; m < n; ++m) pq.push({gains[m][0], m});
  while (!pq.empty()) {
    const size_t m = pq.top().second;
    pq.pop();
    e += errs[m][size_t(level[m] + 1)] - errs[m][size_t(level[m])];
    ++level[m];
    cc.curve.push_back(e);
    cc.pops.push_back(m);
    if (level[m] < steps) pq.push({gains[m][size_t(level[m])], m});
  }
}

}  // namespace

std::vector<std::vector<int>> allocate_group_bits(std::span<const GroupErrors> layers, const AllocOptions& opt) {
  SLIM_CHECK(opt.max_up == 1 || opt.max_up == 2, "alloc: max_up must be 1 or 2, got {}", opt.max_up);
  SLIM_CHECK(opt.bits >= 2 && opt.bits + opt.max_up <= 8, "alloc: target {} bits with max_up {} is out of range",
             opt.bits, opt.max_up);
  std::vector<std::vector<int>> out(layers.size());
  // Classes: per linear, or per step cost (rows·gs) over the model.
  std::vector<ClassCurve> classes;
  std::map<int64_t, size_t> by_size;
  for (size_t l = 0; l < layers.size(); ++l) {
    const GroupErrors& ge = layers[l];
    SLIM_CHECK(ge.bits_lo <= opt.bits - 1 && ge.bits_lo + ge.n_bits - 1 >= opt.bits + opt.max_up,
               "alloc: layer #{} has errors for {}..{} bits, needs {}..{}", l, ge.bits_lo,
               ge.bits_lo + ge.n_bits - 1, opt.bits - 1, opt.bits + opt.max_up);
    const int64_t G = n_groups(ge.cols, ge.group_size);
    out[l].assign(size_t(G), opt.bits);
    const int64_t step = ge.rows * group_width(ge.cols, ge.group_size);
    size_t ci;
    if (!opt.model_scope) {
      ci = classes.size();
      classes.emplace_back();
    } else {
      auto it = by_size.find(step);
      if (it == by_size.end()) {
        it = by_size.emplace(step, classes.size()).first;
        classes.emplace_back();
      }
      ci = it->second;
    }
    classes[ci].step_weights = step;
    for (int64_t g = 0; g < G; ++g)
      if (ge.movable[size_t(g)]) classes[ci].members.push_back({l, g});
  }
  for (auto& cc : classes) build_curve(cc, layers, opt);

  // Net steps per class: d_c with Σ d_c·step_c = 0, minimising Σ curve_c(d_c).
  std::vector<int64_t> d(classes.size(), 0);
  if (opt.model_scope && classes.size() > 1) {
    int64_t unit = 0;
    for (auto& cc : classes) unit = std::gcd(unit, cc.step_weights);
    // DP over the partial sums (in units) of all classes but the last, whose
    // d is then forced by the zero total.
    const double inf = std::numeric_limits<double>::infinity();
    std::map<int64_t, double> cost{{0, 0.0}};
    std::vector<std::map<int64_t, int64_t>> choice(classes.size());  // per class: sum -> d taken
    for (size_t c = 0; c + 1 < classes.size(); ++c) {
      const ClassCurve& cc = classes[c];
      const int64_t u = cc.step_weights / unit;
      std::map<int64_t, double> next;
      for (const auto& [s, v] : cost)
        for (size_t i = 0; i < cc.curve.size(); ++i) {
          const int64_t dc = cc.d_min + int64_t(i), s2 = s + dc * u;
          const double v2 = v + cc.curve[i];
          auto it = next.find(s2);
          if (it == next.end() || v2 < it->second) {
            next[s2] = v2;
            choice[c][s2] = dc;
          }
        }
      cost = std::move(next);
    }
    const ClassCurve& last = classes.back();
    const int64_t ul = last.step_weights / unit;
    double best = inf;
    int64_t best_s = 0, best_d = 0;
    for (const auto& [s, v] : cost) {
      if (s % ul != 0) continue;
      const int64_t dl = -s / ul, i = dl - last.d_min;
      if (i < 0 || i >= int64_t(last.curve.size())) continue;
      if (v + last.curve[size_t(i)] < best) {
        best = v + last.curve[size_t(i)];
        best_s = s;
        best_d = dl;
      }
    }
    SLIM_CHECK(best < inf, "alloc: no exact allocation found");
    d.back() = best_d;
    for (size_t c = classes.size() - 1; c-- > 0;) {
      d[c] = choice[c].at(best_s);
      best_s -= d[c] * (classes[c].step_weights / unit);
    }
  }
  for (size_t c = 0; c < classes.size(); ++c) {
    const ClassCurve& cc = classes[c];
    for (const GroupRef& m : cc.members) out[m.layer][size_t(m.group)] = opt.bits - 1;
    const int64_t n_pops = d[c] - cc.d_min;
    for (int64_t i = 0; i < n_pops; ++i) ++out[cc.members[cc.pops[size_t(i)]].layer][size_t(cc.members[cc.pops[size_t(i)]].group)];
  }
  return out;
}

}  // namespace slim
