#include "model/attention.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "model/ops.h"

namespace slim {

namespace {
// Queries are processed in row blocks so each block only multiplies against
// the keys it can see: this skips ~half of the causal score matrix.
constexpr int kRowBlock = 64;
}  // namespace

void causal_attention(const ModelConfig& c, int window, const float* q, const float* k, const float* v, float* out,
                      int T, int pos0, AttentionScratch& s) {
  const int hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim();
  const int group = c.n_heads / c.n_kv_heads;  // query heads per KV head
  const int S = pos0 + T;
  const float scale = 1.f / std::sqrt(c.attn_scalar > 0 ? c.attn_scalar : float(hd));
  const float cap = c.attn_softcap;
  const int n_blocks = (T + kRowBlock - 1) / kRowBlock;
  const int tasks = c.n_heads * n_blocks;
  const int threads = omp_get_max_threads();
  s.scores.resize(size_t(threads) * kRowBlock * S);

  // One (head, row-block) per task; BLAS calls inside run single-threaded.
  // Small work (decoding a tiny model) stays on one thread: a fork/join costs
  // more than it saves there.
  const bool parallel = tasks > 1 && int64_t(c.n_heads) * T * S * hd > 65536;
  // Profiling (s.profile): thread-seconds per step, summed over the tasks.
  using Clock = std::chrono::steady_clock;
  const bool prof = s.profile;
  double t_scores = 0, t_softmax = 0, t_pv = 0;
  auto since = [](Clock::time_point& t) {
    const auto now = Clock::now();
    const double d = std::chrono::duration<double>(now - t).count();
    t = now;
    return d;
  };
#pragma omp parallel for schedule(dynamic) if (parallel) reduction(+ : t_scores, t_softmax, t_pv)
  for (int task = 0; task < tasks; ++task) {
    Clock::time_point mark = prof ? Clock::now() : Clock::time_point{};
    const int h = task / n_blocks, blk = task % n_blocks;
    const int r0 = blk * kRowBlock, r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
    const int kv_h = h / group;
    const int last = pos0 + r1;  // keys [first, last) are visible to some row of the block
    const int first = window > 0 ? std::max(0, pos0 + r0 - window + 1) : 0;
    const int nk = last - first;
    float* sc = &s.scores[size_t(omp_get_thread_num()) * kRowBlock * S];  // (rows, nk)
    const float* qh = q + int64_t(r0) * qd + int64_t(h) * hd;
    const float* kh = k + int64_t(first) * kvd + int64_t(kv_h) * hd;
    const float* vh = v + int64_t(first) * kvd + int64_t(kv_h) * hd;
    // scores = Q_h Kᵀ / sqrt(hd). A decode step (one query row) is a GEMV
    // per head: a plain loop beats a BLAS call's fixed cost at these sizes
    // (1 x hd x nk, issued n_heads x n_layers times per token).
    if (rows == 1) {
      for (int j = 0; j < nk; ++j) {
        const float* kj = kh + int64_t(j) * kvd;
        float acc = 0.f;
#pragma omp simd reduction(+ : acc)
        for (int i = 0; i < hd; ++i) acc += qh[i] * kj[i];
        sc[j] = acc * scale;
      }
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, hd, scale, qh, qd, kh, kvd, 0.f, sc, nk);
    }
    if (prof) t_scores += since(mark);
    for (int r = 0; r < rows; ++r) {
      const int pos = pos0 + r0 + r;  // absolute position of this query
      float* row = sc + int64_t(r) * nk;
      const int lo = window > 0 ? std::max(first, pos - window + 1) : first;
      for (int j = 0; j < lo - first; ++j) row[j] = 0.f;
      if (cap > 0) softcap(row + (lo - first), pos + 1 - lo, cap);  // Gemma-2: before the softmax, on visible keys
      if (rows == 1)
        softmax_fast(row + (lo - first), pos + 1 - lo);
      else
        softmax(row + (lo - first), pos + 1 - lo);
      for (int j = pos + 1 - first; j < nk; ++j) row[j] = 0.f;  // the future is masked out
    }
    if (prof) t_softmax += since(mark);
    // out_h = P V
    if (rows == 1) {
      float* o = out + int64_t(r0) * qd + int64_t(h) * hd;  // (hd)
      for (int i = 0; i < hd; ++i) o[i] = 0.f;
      for (int j = 0; j < nk; ++j) {
        const float p = sc[j];
        const float* vj = vh + int64_t(j) * kvd;
#pragma omp simd
        for (int i = 0; i < hd; ++i) o[i] += p * vj[i];
      }
      continue;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, nk, 1.f, sc, nk, vh, kvd, 0.f,
                out + int64_t(r0) * qd + int64_t(h) * hd, qd);
    if (prof) t_pv += since(mark);
  }
  if (prof) {
    s.scores_s += t_scores;
    s.softmax_s += t_softmax;
    s.pv_s += t_pv;
  }
}

}  // namespace slim
