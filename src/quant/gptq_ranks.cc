#include "quant/gptq_ranks.h"

#include <algorithm>
#include <cstring>

#include "dist/comm.h"
#include "dist/factor.h"
#include "quant/row_codes.h"
#include "util/error.h"

namespace slim {

namespace {

// Appends / reads the raw bytes of trivially copyable values.
struct Writer {
  std::vector<std::byte> out;
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  template <class T>
  void put_vec(const std::vector<T>& v) {
    put(uint64_t(v.size()));
    const auto* p = reinterpret_cast<const std::byte*>(v.data());
    out.insert(out.end(), p, p + v.size() * sizeof(T));
  }
  // The upper triangle of a (n, n) row-major matrix, row by row: the lower
  // triangle of a GPTQ factor's U is 0 and never read, so half the bytes.
  void put_upper(const std::vector<float>& u, int64_t n) {
    SLIM_CHECK(int64_t(u.size()) == n * n, "internal: a {}-wide factor with {} entries", n, u.size());
    for (int64_t i = 0; i < n; ++i) {
      const auto* p = reinterpret_cast<const std::byte*>(u.data() + i * n + i);
      out.insert(out.end(), p, p + (n - i) * sizeof(float));
    }
  }
};
struct Reader {
  std::span<const std::byte> in;
  size_t at = 0;
  template <class T>
  void get(T& v) {
    std::memcpy(&v, in.data() + at, sizeof(T));
    at += sizeof(T);
  }
  template <class T>
  void get_vec(std::vector<T>& v) {
    uint64_t n = 0;
    get(n);
    v.resize(size_t(n));
    std::memcpy(v.data(), in.data() + at, size_t(n) * sizeof(T));
    at += size_t(n) * sizeof(T);
  }
  // Writer::put_upper's rows back into a (n, n) matrix, 0 below the diagonal.
  void get_upper(std::vector<float>& u, int64_t n) {
    u.assign(size_t(n * n), 0.f);
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(u.data() + i * n + i, in.data() + at, size_t(n - i) * sizeof(float));
      at += size_t(n - i) * sizeof(float);
    }
  }
};

}  // namespace

FactorBroadcast start_factor_broadcast(GptqFactor& f, int root) {
  FactorBroadcast b;
  b.f = &f;
  b.root = root;
  if (dist::size() == 1) return b;
  Writer w;
  if (dist::rank() == root) {
    w.out.reserve(size_t(f.cols * (f.cols + 1) / 2 * 4 + f.cols * 17 + 128));
    w.put(f.cols), w.put_upper(f.u, f.cols), w.put_vec(f.u_diag), w.put_vec(f.perm), w.put_vec(f.dead);
    w.put(f.damp_used), w.put(f.damp_retries), w.put(f.dead_columns), w.put(f.damp), w.put(f.act_order);
    w.put(f.reference_inverse), w.put(f.max_damp_retries), w.put(f.seconds), w.put(f.hessian_diag_mean);
  }
  uint64_t n = w.out.size();
  dist::broadcast(std::as_writable_bytes(std::span(&n, 1)), root);
  w.out.resize(size_t(n));
  b.bytes = std::move(w.out);
  b.pending = dist::start_broadcast(b.bytes, root);
  return b;
}

void finish_factor_broadcast(FactorBroadcast& b) {
  b.pending.finish();
  if (dist::size() == 1 || dist::rank() == b.root) {
    std::vector<std::byte>().swap(b.bytes);
    return;
  }
  GptqFactor& f = *b.f;
  Reader r{b.bytes};
  r.get(f.cols), r.get_upper(f.u, f.cols), r.get_vec(f.u_diag), r.get_vec(f.perm), r.get_vec(f.dead);
  r.get(f.damp_used), r.get(f.damp_retries), r.get(f.dead_columns), r.get(f.damp), r.get(f.act_order);
  r.get(f.reference_inverse), r.get(f.max_damp_retries), r.get(f.seconds), r.get(f.hessian_diag_mean);
  SLIM_CHECK(r.at == b.bytes.size(), "internal: a factor broadcast of {} bytes, {} read", b.bytes.size(), r.at);
  std::vector<std::byte>().swap(b.bytes);
}

std::vector<int> factor_owners(std::span<const int64_t> dims, int ranks) {
  std::vector<size_t> order(dims.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return dims[a] > dims[b]; });
  std::vector<double> load(size_t(ranks), 0.0);
  std::vector<int> owner(dims.size(), 0);
  for (size_t i : order) {
    const int r = int(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = r;
    load[size_t(r)] += double(dims[i]) * double(dims[i]) * double(dims[i]);
  }
  return owner;
}

GptqFactor gptq_factor_over_ranks(std::span<const double> h, int64_t cols, const GptqOptions& opt, int block) {
  SLIM_CHECK(!opt.reference_inverse, "internal: the reference inverse is a one-process cross-check");
  return gptq_factor(h, cols, opt, [block](const dist::DampedSymmetric& a, std::vector<float>& u,
                                           std::vector<double>& u_diag) {
    return dist::inverse_cholesky_upper_over_ranks(a, block, u, u_diag);
  });
}

GptqFactor gptq_factor_over_ranks(const dist::SymmetricSlice& slice, std::span<const double> h_diag, int64_t cols,
                                  const GptqOptions& opt, int block) {
  SLIM_CHECK(!opt.reference_inverse, "internal: the reference inverse is a one-process cross-check");
  return gptq_factor(slice, h_diag, cols, opt, [block](const dist::DampedSymmetric& a, std::vector<float>& u,
                                                       std::vector<double>& u_diag) {
    return dist::inverse_cholesky_upper_over_ranks(a, block, u, u_diag);
  });
}

dist::Share gptq_row_share(int64_t rows, int r, int ranks) {
  const dist::Share c = dist::share_of((rows + kGptqRowChunk - 1) / kGptqRowChunk, r, ranks);
  return {std::min(rows, c.begin * kGptqRowChunk), std::min(rows, c.end * kGptqRowChunk)};
}

GptqResult gptq_quantize_over_ranks(std::span<const float> w, int64_t rows, int64_t cols, const GptqFactor& factor,
                                    const GptqOptions& opt) {
  if (dist::size() == 1) return gptq_quantize(w, rows, cols, factor, opt);
  // Every rank must take part in the gathers, so a share is never empty:
  // ranks beyond the row count quantize row 0 again and contribute nothing.
  const dist::Share s = gptq_row_share(rows, dist::rank(), dist::size());
  const int64_t r0 = s.count() > 0 ? s.begin : 0, nr = s.count() > 0 ? s.count() : 1;
  GptqResult r = gptq_quantize(w.subspan(size_t(r0 * cols), size_t(nr * cols)), nr, cols, factor, opt);
  if (s.count() == 0) {
    r.q.clear();
    r.params.clear();
    r.loss = 0;
  }
  // Every rank's rows as codes + fp16 parameters (quant/row_codes.h), in
  // rank order; every rank decodes all of them, its own included, to the same
  // fp32 weights.
  const RowLayout lay{cols, r.g_idx, r.group_bits};
  const std::vector<std::byte> mine =
      s.count() > 0 ? encode_rows(r.q, r.params, nr, lay) : std::vector<std::byte>();
  const std::vector<std::byte> all = dist::allgather(mine);
  r.q.resize(size_t(rows * cols));
  r.params.resize(size_t(rows * lay.groups()));
  size_t at = 0;
  for (int k = 0; k < dist::size(); ++k) {
    const dist::Share sk = gptq_row_share(rows, k, dist::size());
    if (sk.count() == 0) continue;
    at += decode_rows(std::span(all).subspan(at), sk.count(), lay, r.q.data() + sk.begin * cols,
                      r.params.data() + sk.begin * lay.groups());
  }
  SLIM_CHECK(at == all.size(), "internal: quantized rows allgather of {} bytes, read {}", all.size(), at);
  double loss = r.loss;
  dist::allreduce_sum({&loss, 1});
  r.loss = loss;
  return r;
}

}  // namespace slim
