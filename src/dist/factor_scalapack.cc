// dist/factor.h on ScaLAPACK (Debian: libscalapack-openmpi-dev) over the
// ranks' MPI_COMM_WORLD. Column-major, as ScaLAPACK wants: with B = P A P,
// pdpotrf('U') gives B = Rᵀ R and pdtrtri('U') R⁻¹; the row-major U of
// quant/linalg.h's inverse_cholesky_upper is R⁻¹ with its flat column-major
// array reversed, i.e. U[n-1-j][n-1-i] = R⁻¹(i, j) for i <= j.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "dist/comm.h"
#include "dist/factor.h"
#include "util/error.h"

extern "C" {
// BLACS (C interface) and ScaLAPACK (Fortran: trailing hidden string lengths).
void Cblacs_pinfo(int* mypnum, int* nprocs);
void Cblacs_get(int context, int request, int* value);
void Cblacs_gridinit(int* context, const char* order, int nprow, int npcol);
void Cblacs_gridinfo(int context, int* nprow, int* npcol, int* myrow, int* mycol);
void Cblacs_pcoord(int context, int pnum, int* prow, int* pcol);
void Cblacs_gridexit(int context);
int numroc_(const int* n, const int* nb, const int* iproc, const int* isrcproc, const int* nprocs);
void descinit_(int* desc, const int* m, const int* n, const int* mb, const int* nb, const int* irsrc,
               const int* icsrc, const int* ictxt, const int* lld, int* info);
void pdpotrf_(const char* uplo, const int* n, double* a, const int* ia, const int* ja, const int* desca, int* info,
              size_t uplo_len);
void pdtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* ia, const int* ja,
              const int* desca, int* info, size_t uplo_len, size_t diag_len);
}

namespace slim::dist {

namespace {

// The most square grid: rows = the largest divisor of `ranks` <= sqrt(ranks).
void grid_shape(int ranks, int& rows, int& cols) {
  rows = 1;
  for (int r = 1; r * r <= ranks; ++r)
    if (ranks % r == 0) rows = r;
  cols = ranks / rows;
}

// Global index of local index `l` on process coordinate `p` of `procs` (block `nb`, source 0).
inline int64_t to_global(int64_t l, int nb, int p, int procs) { return ((l / nb) * procs + p) * nb + l % nb; }

// True on every rank when `ok` holds on every rank.
bool all_ok(bool ok) {
  double bad = ok ? 0.0 : 1.0;
  allreduce_sum({&bad, 1});
  return bad == 0.0;
}

// One rank's block-cyclic piece: its grid coordinates and local extents.
struct Piece {
  int64_t row = 0, col = 0, rows = 0, cols = 0;
};

// Upper-triangle entries (global i <= j) per local column of a piece, and their running offsets.
std::vector<int64_t> column_offsets(const Piece& p, int nb, int pr, int pc) {
  std::vector<int64_t> off(size_t(p.cols + 1), 0);
  for (int64_t lj = 0; lj < p.cols; ++lj) {
    const int64_t gj = to_global(lj, nb, int(p.col), pc);
    int64_t k = 0;  // local rows are increasing in their global index
    while (k < p.rows && to_global(k, nb, int(p.row), pr) <= gj) ++k;
    off[size_t(lj + 1)] = off[size_t(lj)] + k;
  }
  return off;
}

// A BLACS process grid for the duration of one factorisation.
struct Grid {
  int ctxt = -1, pr = 1, pc = 1, myrow = -1, mycol = -1;
  Grid() {
    int me = 0, np = 0;
    Cblacs_pinfo(&me, &np);
    SLIM_CHECK(np == size(), "internal: BLACS sees {} processes, MPI {}", np, size());
    grid_shape(np, pr, pc);
    Cblacs_get(-1, 0, &ctxt);
    Cblacs_gridinit(&ctxt, "Row", pr, pc);
    int npr = 0, npc = 0;
    Cblacs_gridinfo(ctxt, &npr, &npc, &myrow, &mycol);
    SLIM_CHECK(npr == pr && npc == pc && myrow >= 0 && mycol >= 0, "internal: BLACS grid {}x{} not formed", pr, pc);
  }
  ~Grid() { Cblacs_gridexit(ctxt); }
  Grid(const Grid&) = delete;
  Grid& operator=(const Grid&) = delete;
};

// The rank whose share_of(total, r) holds index k.
int share_owner(int64_t k, int64_t total, int ranks) {
  const int64_t base = total / ranks, extra = total % ranks;
  return k < extra * (base + 1) ? int(k / (base + 1)) : int(extra + (k - extra * (base + 1)) / base);
}

// Calls f(li, lj, gi, gj) for every upper entry (gi <= gj) of piece p, column by column.
template <class F>
void for_upper(const Piece& p, int nb, int pr, int pc, F&& f) {
  for (int64_t lj = 0; lj < p.cols; ++lj) {
    const int64_t gj = to_global(lj, nb, int(p.col), pc);
    for (int64_t li = 0; li < p.rows; ++li) {
      const int64_t gi = to_global(li, nb, int(p.row), pr);
      if (gi > gj) break;
      f(li, lj, gi, gj);
    }
  }
}

// The pieces of B = P A P from the ranks' slices of H (a.sliced()): each
// rank sends every other rank the entries of its slice that the other's
// piece holds, in that piece's column order; the diagonal (diag + lambda,
// on every rank) is filled locally. The same values as the whole-H fill.
void fill_from_slices(const DampedSymmetric& a, const Grid& g, int nb, const Piece& me, int64_t lld,
                      std::vector<double>& loc) {
  const int64_t n = a.n, total = n * (n + 1) / 2;
  const int64_t lo = a.slice.begin, hi = lo + int64_t(a.slice.packed.size());
  // B(gi, gj) = A(n-1-gj, n-1-gi) = H[perm[n-1-gj]][perm[n-1-gi]] off the diagonal.
  auto packed_of = [&](int64_t gi, int64_t gj) {
    int64_t x = a.perm[size_t(n - 1 - gj)], y = a.perm[size_t(n - 1 - gi)];
    if (x > y) std::swap(x, y);
    return packed_upper_index(n, x, y);
  };
  const int ranks = size();
  std::vector<Piece> pieces(static_cast<size_t>(ranks));  // by rank (BLACS process number = MPI rank)
  for (int d = 0; d < ranks; ++d) {
    int prow = 0, pcol = 0;
    Cblacs_pcoord(g.ctxt, d, &prow, &pcol);
    const int N = int(n), zero = 0;
    pieces[size_t(d)] = {prow, pcol, numroc_(&N, &nb, &prow, &zero, &g.pr), numroc_(&N, &nb, &pcol, &zero, &g.pc)};
  }
  std::vector<std::vector<double>> to(static_cast<size_t>(ranks));
#pragma omp parallel for schedule(dynamic, 1)
  for (int d = 0; d < ranks; ++d) {
    std::vector<double>& out = to[size_t(d)];
    for_upper(pieces[size_t(d)], nb, g.pr, g.pc, [&](int64_t, int64_t, int64_t gi, int64_t gj) {
      if (gi == gj) return;
      const int64_t k = packed_of(gi, gj);
      if (k >= lo && k < hi) out.push_back(a.slice.scale * a.slice.packed[size_t(k - lo)]);
    });
  }
  const std::vector<std::vector<double>> from = alltoall(to);
  std::vector<std::vector<double>>().swap(to);
  std::vector<size_t> at(size_t(ranks), 0);
  for_upper(me, nb, g.pr, g.pc, [&](int64_t li, int64_t lj, int64_t gi, int64_t gj) {
    double& v = loc[size_t(li + lj * lld)];
    if (gi == gj) {
      v = a.diag[size_t(a.perm[size_t(n - 1 - gj)])] + a.lambda;
      return;
    }
    const int r = share_owner(packed_of(gi, gj), total, ranks);
    SLIM_CHECK(at[size_t(r)] < from[size_t(r)].size(), "internal: rank {} sent too few Hessian entries", r);
    v = from[size_t(r)][at[size_t(r)]++];
  });
  for (int r = 0; r < ranks; ++r)
    SLIM_CHECK(at[size_t(r)] == from[size_t(r)].size(), "internal: rank {} sent {} Hessian entries, {} used", r,
               from[size_t(r)].size(), at[size_t(r)]);
}

}  // namespace

bool factor_over_ranks_available() { return true; }

bool inverse_cholesky_upper_over_ranks(const DampedSymmetric& a, int block, std::vector<float>& u,
                                       std::vector<double>& u_diag) {
  const int64_t n = a.n;
  SLIM_CHECK(n > 0 && n < (int64_t(1) << 31) && block > 0, "internal: factor over ranks of {} (block {})", n, block);
  Grid g;
  const int N = int(n), nb = block, zero = 0, one = 1;
  Piece me;
  me.row = g.myrow, me.col = g.mycol;
  me.rows = numroc_(&N, &nb, &g.myrow, &zero, &g.pr);
  me.cols = numroc_(&N, &nb, &g.mycol, &zero, &g.pc);
  const int lld = int(std::max<int64_t>(1, me.rows));
  int desc[9], info = 0;
  descinit_(desc, &N, &N, &nb, &nb, &zero, &zero, &g.ctxt, &lld, &info);
  SLIM_CHECK(info == 0, "internal: descinit failed ({})", info);

  // (rows, cols) column-major local piece of B = P A P: B(i, j) = A(n-1-j, n-1-i)
  // read as quant/linalg.cc's row-major route reads it. Upper triangle only.
  std::vector<double> loc(size_t(lld) * size_t(std::max<int64_t>(1, me.cols)), 0.0);
  if (a.sliced()) {
    fill_from_slices(a, g, nb, me, lld, loc);
  } else {
#pragma omp parallel for schedule(dynamic, 16) if (me.rows * me.cols > (1 << 16))
    for (int64_t lj = 0; lj < me.cols; ++lj) {
      const int64_t gj = to_global(lj, nb, g.mycol, g.pc), q = n - 1 - gj;
      double* col = loc.data() + lj * lld;
      for (int64_t li = 0; li < me.rows; ++li) {
        const int64_t gi = to_global(li, nb, g.myrow, g.pr);
        if (gi > gj) break;
        col[li] = a.at(q, n - 1 - gi);
      }
    }
  }

  // Local diagonal entries must be positive and finite (a NaN pivot passes LAPACK's `<= 0` test).
  auto local_diag_ok = [&]() {
    for (int64_t lj = 0; lj < me.cols; ++lj) {
      const int64_t gj = to_global(lj, nb, g.mycol, g.pc);
      for (int64_t li = 0; li < me.rows; ++li)
        if (to_global(li, nb, g.myrow, g.pr) == gj) {
          const double d = loc[size_t(li + lj * lld)];
          if (!(d > 0.0) || !std::isfinite(d)) return false;
        }
    }
    return true;
  };
  pdpotrf_("U", &N, loc.data(), &one, &one, desc, &info, 1);
  if (!all_ok(info == 0 && local_diag_ok())) return false;
  pdtrtri_("U", "N", &N, loc.data(), &one, &one, desc, &info, 1, 1);
  if (!all_ok(info == 0 && local_diag_ok())) return false;

  // Every rank's upper entries, fp32, column by column; then the fp64 diagonal.
  const std::vector<int64_t> mine_off = column_offsets(me, nb, g.pr, g.pc);
  const int64_t header = 4 * int64_t(sizeof(int64_t));
  std::vector<std::byte> out(size_t(header) + size_t(mine_off.back()) * sizeof(float));
  {
    const int64_t h[4] = {me.row, me.col, me.rows, me.cols};
    std::memcpy(out.data(), h, sizeof h);
    float* vals = reinterpret_cast<float*>(out.data() + header);
#pragma omp parallel for schedule(static) if (mine_off.back() > (1 << 16))
    for (int64_t lj = 0; lj < me.cols; ++lj)
      for (int64_t k = 0; k < mine_off[size_t(lj + 1)] - mine_off[size_t(lj)]; ++k)
        vals[mine_off[size_t(lj)] + k] = float(loc[size_t(k + lj * lld)]);
  }
  std::vector<double> diag_mine;  // (local diagonal entries) in column order
  for (int64_t lj = 0; lj < me.cols; ++lj) {
    const int64_t gj = to_global(lj, nb, g.mycol, g.pc);
    for (int64_t li = 0; li < me.rows; ++li)
      if (to_global(li, nb, g.myrow, g.pr) == gj) diag_mine.push_back(loc[size_t(li + lj * lld)]);
  }
  std::vector<double>().swap(loc);
  const std::vector<std::byte> all = allgather(out);
  std::vector<std::byte>().swap(out);
  const std::vector<std::byte> all_diag = allgather(std::as_bytes(std::span(diag_mine)));

  u.assign(size_t(n * n), 0.f);
  u_diag.assign(size_t(n), 0.0);
  size_t at = 0, at_diag = 0;
  for (int r = 0; r < size(); ++r) {
    int64_t h[4];
    SLIM_CHECK(at + size_t(header) <= all.size(), "internal: factor allgather truncated at rank {}", r);
    std::memcpy(h, all.data() + at, sizeof h);
    const Piece p{h[0], h[1], h[2], h[3]};
    const std::vector<int64_t> off = column_offsets(p, nb, g.pr, g.pc);
    const float* vals = reinterpret_cast<const float*>(all.data() + at + size_t(header));
    float* U = u.data();
#pragma omp parallel for schedule(static) if (off.back() > (1 << 16))
    for (int64_t lj = 0; lj < p.cols; ++lj) {
      const int64_t gj = to_global(lj, nb, int(p.col), g.pc);
      for (int64_t k = 0; k < off[size_t(lj + 1)] - off[size_t(lj)]; ++k) {
        const int64_t gi = to_global(k, nb, int(p.row), g.pr);
        U[(n - 1 - gj) * n + (n - 1 - gi)] = vals[off[size_t(lj)] + k];
      }
    }
    for (int64_t lj = 0; lj < p.cols; ++lj) {
      const int64_t gj = to_global(lj, nb, int(p.col), g.pc);
      for (int64_t k = 0; k < p.rows; ++k)
        if (to_global(k, nb, int(p.row), g.pr) == gj) {
          std::memcpy(&u_diag[size_t(n - 1 - gj)], all_diag.data() + at_diag, sizeof(double));
          at_diag += sizeof(double);
        }
    }
    at += size_t(header) + size_t(off.back()) * sizeof(float);
  }
  SLIM_CHECK(at == all.size() && at_diag == all_diag.size(), "internal: factor allgather of {} bytes, read {}",
             all.size(), at);
  return true;
}

}  // namespace slim::dist
