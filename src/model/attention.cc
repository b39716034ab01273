#include "model/attention.h"

#include <cblas.h>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

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

// The decode step's two products, one query row against nk keys, written so
// that the compiler keeps the accumulators in vector registers (not inlined:
// inside the OpenMP region's body GCC spilled them to the stack). Why: the
// plain loops (an `omp simd` dot per key, `o[i] += p v[i]` per key) had GCC
// reduce each dot through the stack with 8 scalar adds and load-add-store
// o on every key: perf on a TinyLlama decode after a 512-token prompt put
// 3/4 of causal_attention's samples there, a third of the GEMV's time.

// sc[j] = scale (q . k_j), j < nk; k_j = k + j ldk; hd columns.
[[gnu::noinline]] void decode_scores(const float* q, const float* k, int64_t ldk, int hd, int nk, float scale, float* sc) {
  constexpr int W = 8;  // keys per pass, each with its own 8-lane partial sums
  const int hd8 = hd / 8 * 8;
  int j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  // The same sums with the 8 keys' lanes reduced by a hadd tree (~8
  // instructions per 8 keys); GCC reduced the portable loop below lane by
  // lane (64 scalar adds and extracts per 8 keys, most of decode_scores' time).
  if (hd8 == hd) {
    const __m256 vs = _mm256_set1_ps(scale);
    for (; j + W <= nk; j += W) {
      __m256 a[W];
      for (int u = 0; u < W; ++u) a[u] = _mm256_setzero_ps();
      for (int i0 = 0; i0 < hd; i0 += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i0);
        for (int u = 0; u < W; ++u) a[u] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + int64_t(j + u) * ldk + i0), a[u]);
      }
      // hadd pairs: lane u of lo + hi (128-bit halves) = key u's sum.
      const __m256 s0123 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
      const __m256 s4567 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
      const __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
      _mm256_storeu_ps(sc + j, _mm256_mul_ps(sum, vs));
    }
  }
#endif
  for (; j + W <= nk; j += W) {
    float acc[W][8] = {};
    for (int i0 = 0; i0 < hd8; i0 += 8)
      for (int u = 0; u < W; ++u) {
        const float* kj = k + int64_t(j + u) * ldk + i0;
#pragma omp simd
        for (int l = 0; l < 8; ++l) acc[u][l] += q[i0 + l] * kj[l];
      }
    for (int u = 0; u < W; ++u) {
      float t = 0.f;
      for (int l = 0; l < 8; ++l) t += acc[u][l];
      const float* kj = k + int64_t(j + u) * ldk;
      for (int i = hd8; i < hd; ++i) t += q[i] * kj[i];
      sc[j + u] = t * scale;
    }
  }
  for (; j < nk; ++j) {
    const float* kj = k + int64_t(j) * ldk;
    float t = 0.f;
    for (int i = 0; i < hd; ++i) t += q[i] * kj[i];
    sc[j] = t * scale;
  }
}

// o += Σ_j p[j] v_j (hd columns), each column summed in j order (as the
// plain loop did), 32 columns held in registers across the keys.
[[gnu::noinline]] void decode_pv(const float* p, const float* v, int64_t ldv, int hd, int nk, float* o) {
  constexpr int C = 32;
  int i0 = 0;
  for (; i0 + C <= hd; i0 += C) {
    float acc[C];
    for (int i = 0; i < C; ++i) acc[i] = o[i0 + i];
    for (int j = 0; j < nk; ++j) {
      const float pj = p[j];
      const float* vj = v + int64_t(j) * ldv + i0;
#pragma omp simd
      for (int i = 0; i < C; ++i) acc[i] += pj * vj[i];
    }
    for (int i = 0; i < C; ++i) o[i0 + i] = acc[i];
  }
  for (int j = 0; j < nk && i0 < hd; ++j)
    for (int i = i0; i < hd; ++i) o[i] += p[j] * v[int64_t(j) * ldv + i];
}

// Keys per block in a decode step: 32 rows of K (8 KB at head_dim 64) stay
// in L1 while every query head of their KV head passes over them.
constexpr int kKeyBlock = 32;

// One decode step (one query row) of gn query heads that share one KV head:
// q, out (gn, hd) contiguous; k, v (nk, hd) at row stride ldkv, the visible
// keys only; sc (gn, nk) scratch. Why by key blocks: head by head, each of
// the gn heads read the whole K and V again (8 times per KV head on
// LLaMA-style GQA), from L2 at best. t (nullable): thread-seconds of the
// scores, softmax and PV steps, added.
void decode_heads(const float* q, const float* k, const float* v, int64_t ldkv, int gn, int hd, int nk, float scale,
                  float cap, float* sc, float* out, double* t) {
  using Clock = std::chrono::steady_clock;
  Clock::time_point mark = t ? Clock::now() : Clock::time_point{};
  auto lap = [&](int i) {
    if (!t) return;
    const auto now = Clock::now();
    t[i] += std::chrono::duration<double>(now - mark).count();
    mark = now;
  };
  for (int jb = 0; jb < nk; jb += kKeyBlock) {
    const int nb = std::min(kKeyBlock, nk - jb);
    for (int g = 0; g < gn; ++g)
      decode_scores(q + int64_t(g) * hd, k + int64_t(jb) * ldkv, ldkv, hd, nb, scale, sc + int64_t(g) * nk + jb);
  }
  lap(0);
  for (int g = 0; g < gn; ++g) {
    float* row = sc + int64_t(g) * nk;
    if (cap > 0) softcap(row, nk, cap);  // Gemma-2: before the softmax
    softmax_fast(row, nk);
  }
  lap(1);
  std::fill(out, out + int64_t(gn) * hd, 0.f);
  for (int jb = 0; jb < nk; jb += kKeyBlock) {
    const int nb = std::min(kKeyBlock, nk - jb);
    for (int g = 0; g < gn; ++g)
      decode_pv(sc + int64_t(g) * nk + jb, v + int64_t(jb) * ldkv, ldkv, hd, nb, out + int64_t(g) * hd);
  }
  lap(2);
}
}  // namespace

void causal_attention(const ModelConfig& c, int window, const float* q, const float* k, const float* v, float* out,
                      int T, int pos0, AttentionScratch& s) {
  const int hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim();
  const int group = c.n_heads / c.n_kv_heads;  // query heads per KV head
  const int S = pos0 + T;
  const float scale = 1.f / std::sqrt(c.attn_scalar > 0 ? c.attn_scalar : float(hd));
  const float cap = c.attn_softcap;
  const int threads = omp_get_max_threads();
  if (T == 1) {
    // Decode: a task = gsub query heads of one KV head (decode_heads says
    // why), gsub halved from the whole group while that leaves fewer than two
    // tasks per thread (MQA: one KV head for every query head).
    int gsub = group;
    while (gsub % 2 == 0 && c.n_kv_heads * (group / gsub) < 2 * threads) gsub /= 2;
    const int tasks = c.n_heads / gsub;
    const int first = window > 0 ? std::max(0, pos0 - window + 1) : 0, nk = pos0 + 1 - first;
    s.scores.resize(size_t(threads) * size_t(gsub) * size_t(nk));
    const bool parallel = tasks > 1 && int64_t(c.n_heads) * nk * hd > 65536;
    double t_scores = 0, t_softmax = 0, t_pv = 0;
#pragma omp parallel for schedule(dynamic) if (parallel) reduction(+ : t_scores, t_softmax, t_pv)
    for (int task = 0; task < tasks; ++task) {
      const int h0 = task * gsub, kv_h = h0 / group;
      double t[3] = {0, 0, 0};
      decode_heads(q + int64_t(h0) * hd, k + int64_t(first) * kvd + int64_t(kv_h) * hd,
                   v + int64_t(first) * kvd + int64_t(kv_h) * hd, kvd, gsub, hd, nk, scale, cap,
                   &s.scores[size_t(omp_get_thread_num()) * size_t(gsub) * size_t(nk)], out + int64_t(h0) * hd,
                   s.profile ? t : nullptr);
      t_scores += t[0];
      t_softmax += t[1];
      t_pv += t[2];
    }
    s.scores_s += t_scores;
    s.softmax_s += t_softmax;
    s.pv_s += t_pv;
    return;
  }
  const int n_blocks = (T + kRowBlock - 1) / kRowBlock;
  const int tasks = c.n_heads * n_blocks;
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
    // scores = Q_h Kᵀ / sqrt(hd) for the block's rows (a decode step, T = 1,
    // took decode_heads above).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, hd, scale, qh, qd, kh, kvd, 0.f, sc, nk);
    if (prof) t_scores += since(mark);
    for (int r = 0; r < rows; ++r) {
      const int pos = pos0 + r0 + r;  // absolute position of this query
      float* row = sc + int64_t(r) * nk;
      const int lo = window > 0 ? std::max(first, pos - window + 1) : first;
      for (int j = 0; j < lo - first; ++j) row[j] = 0.f;
      if (cap > 0) softcap(row + (lo - first), pos + 1 - lo, cap);  // Gemma-2: before the softmax, on visible keys
      softmax(row + (lo - first), pos + 1 - lo);
      for (int j = pos + 1 - first; j < nk; ++j) row[j] = 0.f;  // the future is masked out
    }
    if (prof) t_softmax += since(mark);
    // out_h = P V
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
