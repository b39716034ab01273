#include "grad/ops_grad.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

namespace slim::grad {

namespace {
// C (M, N) = alpha op(A) op(B) + beta C, row-major, threaded over fixed blocks
// of kRows output rows with one single-threaded BLAS call each. OpenBLAS's own
// threading gives results that change with the thread count (measured: most
// block shapes differ in the last bit between 1 and 3 threads); a partition
// that does not depend on the thread count gives the same bits for any.
constexpr int kRows = 64;
void sgemm_det(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
               float beta, float* C, int ldc) {
  const int blocks = (M + kRows - 1) / kRows;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < blocks; ++blk) {
    const int m0 = blk * kRows, m = std::min(kRows, M - m0);
    const float* a = ta ? A + m0 : A + int64_t(m0) * lda;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, N, K, alpha, a, lda,
                B, ldb, beta, C + int64_t(m0) * ldc, ldc);
  }
}
}  // namespace

void rmsnorm_forward(const float* x, const float* w, float* out, float* rstd, int T, int n, float eps) {
#pragma omp parallel for if (int64_t(T) * n > 32768) schedule(static)
  for (int t = 0; t < T; ++t) {
    const float* xr = x + int64_t(t) * n;
    float* o = out + int64_t(t) * n;
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
    const float r = float(1.0 / std::sqrt(ss / n + eps));
    rstd[t] = r;
    for (int i = 0; i < n; ++i) o[i] = xr[i] * r * w[i];
  }
}

void rmsnorm_backward(const float* dout, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                      int T, int n) {
  // y_i = x_i r w_i, r = (Σx²/n + eps)^-1/2:  dx_i = r w_i dy_i - x_i r³/n Σ_j w_j dy_j x_j.
#pragma omp parallel for if (int64_t(T) * n > 32768) schedule(static)
  for (int t = 0; t < T; ++t) {
    const float* xr = x + int64_t(t) * n;
    const float* dy = dout + int64_t(t) * n;
    float* d = dx + int64_t(t) * n;
    const double r = rstd[t];
    double dot = 0;
    for (int i = 0; i < n; ++i) dot += double(w[i]) * dy[i] * xr[i];
    const double k = dot * r * r * r / n;
    for (int i = 0; i < n; ++i) d[i] += float(r * w[i] * dy[i] - k * xr[i]);
  }
  if (dw) {  // a sum over tokens: one thread per column range, tokens in order
#pragma omp parallel for if (int64_t(T) * n > 32768) schedule(static)
    for (int i = 0; i < n; ++i) {
      double s = 0;
      for (int t = 0; t < T; ++t) s += double(dout[int64_t(t) * n + i]) * x[int64_t(t) * n + i] * rstd[t];
      dw[i] += float(s);
    }
  }
}

void linear_forward(const float* x, const float* W, const float* b, float* y, int T, int in, int out) {
  sgemm_det(false, true, T, out, in, 1.f, x, in, W, in, 0.f, y, out);
  if (b)
    for (int t = 0; t < T; ++t)
      for (int o = 0; o < out; ++o) y[int64_t(t) * out + o] += b[o];
}

void linear_backward(const float* dy, const float* x, const float* W, float* dx, float* dW, float* db, int T, int in,
                     int out) {
  if (dx) sgemm_det(false, false, T, in, out, 1.f, dy, out, W, in, 1.f, dx, in);
  if (dW) sgemm_det(true, false, out, in, T, 1.f, dy, out, x, in, 1.f, dW, in);
  if (db)
    for (int o = 0; o < out; ++o) {
      double s = 0;
      for (int t = 0; t < T; ++t) s += dy[int64_t(t) * out + o];
      db[o] += float(s);
    }
}

namespace {
// sign +1: the forward rotation; -1: its transpose (inverse).
void rope_rotate(float* x, int T, int n_heads, int head_dim, PosKind layout, const RopeTable& tab, float sign) {
  const int half = head_dim / 2;
  const int stride_i = layout == PosKind::RopeInterleaved ? 2 : 1;
  const int offset_b = layout == PosKind::RopeInterleaved ? 1 : half;
#pragma omp parallel for if (int64_t(T) * n_heads * head_dim > 65536) schedule(static)
  for (int t = 0; t < T; ++t) {
    const float* cs = &tab.cos[size_t(t) * half];
    const float* sn = &tab.sin[size_t(t) * half];
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (int64_t(t) * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        float& a = v[i * stride_i];
        float& b = v[i * stride_i + offset_b];
        const float a0 = a, b0 = b, s = sign * sn[i];
        a = a0 * cs[i] - b0 * s;
        b = a0 * s + b0 * cs[i];
      }
    }
  }
}
}  // namespace

void rope_forward(float* x, int T, int n_heads, int head_dim, PosKind layout, const RopeTable& tab) {
  rope_rotate(x, T, n_heads, head_dim, layout, tab, 1.f);
}
void rope_backward(float* dx, int T, int n_heads, int head_dim, PosKind layout, const RopeTable& tab) {
  rope_rotate(dx, T, n_heads, head_dim, layout, tab, -1.f);
}

void attention_forward(const ModelConfig& c, const float* q, const float* k, const float* v, float* out, float* p,
                       int T) {
  const int hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim(), group = c.n_heads / c.n_kv_heads;
  const float scale = 1.f / std::sqrt(float(hd));
  // Always a parallel region (no size threshold): BLAS inside one runs
  // single-threaded, outside it would thread and change the bits.
#pragma omp parallel for schedule(static)
  for (int h = 0; h < c.n_heads; ++h) {
    const int g = h / group;
    float* ph = p + int64_t(h) * T * T;  // (T, T)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q + h * hd, qd, k + g * hd, kvd, 0.f, ph,
                T);
    for (int i = 0; i < T; ++i) {
      float* row = ph + int64_t(i) * T;
      softmax(row, i + 1);
      for (int j = i + 1; j < T; ++j) row[j] = 0.f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.f, ph, T, v + g * hd, kvd, 0.f, out + h * hd,
                qd);
  }
}

void attention_backward(const ModelConfig& c, const float* dout, const float* q, const float* k, const float* v,
                        const float* p, float* dq, float* dk, float* dv, int T, std::vector<float>& scratch) {
  const int hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim(), group = c.n_heads / c.n_kv_heads;
  const float scale = 1.f / std::sqrt(float(hd));
  const int threads = omp_get_max_threads();
  scratch.resize(size_t(threads) * T * T);
  // One KV head per task: its query heads add into dk/dv in a fixed order.
#pragma omp parallel for schedule(static)
  for (int g = 0; g < c.n_kv_heads; ++g) {
    float* ds = &scratch[size_t(omp_get_thread_num()) * T * T];  // (T, T)
    for (int h = g * group; h < (g + 1) * group; ++h) {
      const float* ph = p + int64_t(h) * T * T;
      const float* doh = dout + h * hd;
      // dP = dO Vᵀ; dS = P ⊙ (dP - rowsum(P ⊙ dP)) * scale
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.f, doh, qd, v + g * hd, kvd, 0.f, ds, T);
      for (int i = 0; i < T; ++i) {
        const float* pr = ph + int64_t(i) * T;
        float* dr = ds + int64_t(i) * T;
        double dot = 0;
        for (int j = 0; j <= i; ++j) dot += double(pr[j]) * dr[j];
        for (int j = 0; j <= i; ++j) dr[j] = pr[j] * (dr[j] - float(dot)) * scale;
        for (int j = i + 1; j < T; ++j) dr[j] = 0.f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.f, ds, T, k + g * hd, kvd, 1.f, dq + h * hd,
                  qd);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.f, ds, T, q + h * hd, qd, 1.f, dk + g * hd,
                  kvd);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.f, ph, T, doh, qd, 1.f, dv + g * hd, kvd);
    }
  }
}

void layernorm_forward(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd, int T,
                       int n, float eps) {
#pragma omp parallel for if (int64_t(T) * n > 32768) schedule(static)
  for (int t = 0; t < T; ++t) {
    const float* xr = x + int64_t(t) * n;
    float* o = out + int64_t(t) * n;
    double s = 0, ss = 0;
    for (int i = 0; i < n; ++i) s += xr[i];
    const double m = s / n;
    for (int i = 0; i < n; ++i) ss += (xr[i] - m) * (xr[i] - m);
    const float r = float(1.0 / std::sqrt(ss / n + eps));
    mean[t] = float(m);
    rstd[t] = r;
    for (int i = 0; i < n; ++i) o[i] = (xr[i] - float(m)) * r * w[i] + (b ? b[i] : 0.f);
  }
}

void layernorm_backward(const float* dout, const float* x, const float* w, const float* mean, const float* rstd,
                        float* dx, float* dw, float* db, int T, int n) {
  // xhat = (x - m) r, y = xhat w + b:  dx = r (g - mean(g) - xhat mean(g xhat)),  g = w dy.
#pragma omp parallel for if (int64_t(T) * n > 32768) schedule(static)
  for (int t = 0; t < T; ++t) {
    const float* xr = x + int64_t(t) * n;
    const float* dy = dout + int64_t(t) * n;
    float* d = dx + int64_t(t) * n;
    const double r = rstd[t], m = mean[t];
    double sg = 0, sgx = 0;
    for (int i = 0; i < n; ++i) {
      const double g = double(w[i]) * dy[i];
      sg += g;
      sgx += g * (xr[i] - m) * r;
    }
    sg /= n;
    sgx /= n;
    for (int i = 0; i < n; ++i) {
      const double xhat = (xr[i] - m) * r;
      d[i] += float(r * (double(w[i]) * dy[i] - sg - xhat * sgx));
    }
  }
  if (dw || db) {  // sums over tokens, in order, one thread per column range
#pragma omp parallel for if (int64_t(T) * n > 32768) schedule(static)
    for (int i = 0; i < n; ++i) {
      double sw = 0, sb = 0;
      for (int t = 0; t < T; ++t) {
        const double dy = dout[int64_t(t) * n + i];
        sw += dy * (x[int64_t(t) * n + i] - mean[t]) * rstd[t];
        sb += dy;
      }
      if (dw) dw[i] += float(sw);
      if (db) db[i] += float(sb);
    }
  }
}

void relu_forward(const float* a, float* h, int64_t n) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) h[i] = a[i] > 0.f ? a[i] : 0.f;
}

void relu_backward(const float* dh, const float* a, float* da, int64_t n) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i)
    if (a[i] > 0.f) da[i] += dh[i];
}

void norm_forward(const ModelConfig& c, const float* x, const Tensor& w, const Tensor& b, float* out, float* mean,
                  float* rstd, int T, int n) {
  if (c.norm == NormKind::LayerNorm)
    layernorm_forward(x, w.data(), b.empty() ? nullptr : b.data(), out, mean, rstd, T, n, c.norm_eps);
  else
    rmsnorm_forward(x, w.data(), out, rstd, T, n, c.norm_eps);
}

void norm_backward(const ModelConfig& c, const float* dout, const float* x, const Tensor& w, const float* mean,
                   const float* rstd, float* dx, float* dw, int T, int n) {
  if (c.norm == NormKind::LayerNorm)
    layernorm_backward(dout, x, w.data(), mean, rstd, dx, dw, nullptr, T, n);
  else
    rmsnorm_backward(dout, x, w.data(), rstd, dx, dw, T, n);
}

void swiglu_forward(const float* gate, const float* up, float* h, int64_t n) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    h[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

void swiglu_backward(const float* dh, const float* gate, const float* up, float* dgate, float* dup, int64_t n) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i], sg = 1.f / (1.f + std::exp(-g)), silu = g * sg;
    dgate[i] += dh[i] * up[i] * sg * (1.f + g * (1.f - sg));
    dup[i] += dh[i] * silu;
  }
}

}  // namespace slim::grad
