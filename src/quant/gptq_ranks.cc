#include "quant/gptq_ranks.h"

#include <cstring>

#include "dist/comm.h"

namespace slim {

namespace {

template <class T>
std::vector<T> gather_rows(const std::vector<T>& mine) {
  const std::vector<std::byte> all = dist::allgather(std::as_bytes(std::span(mine)));
  std::vector<T> out(all.size() / sizeof(T));
  std::memcpy(out.data(), all.data(), all.size());
  return out;
}

}  // namespace

GptqResult gptq_quantize_over_ranks(std::span<const float> w, int64_t rows, int64_t cols, const GptqFactor& factor,
                                    const GptqOptions& opt) {
  if (dist::size() == 1) return gptq_quantize(w, rows, cols, factor, opt);
  // Every rank must take part in the gathers, so a share is never empty:
  // ranks beyond the row count quantize row 0 again and contribute nothing.
  const dist::Share s = dist::my_share(rows);
  const int64_t r0 = s.count() > 0 ? s.begin : 0, nr = s.count() > 0 ? s.count() : 1;
  GptqResult r = gptq_quantize(w.subspan(size_t(r0 * cols), size_t(nr * cols)), nr, cols, factor, opt);
  if (s.count() == 0) {
    r.q.clear();
    r.params.clear();
    r.loss = 0;
  }
  r.q = gather_rows(r.q);
  r.params = gather_rows(r.params);
  double loss = r.loss;
  dist::allreduce_sum({&loss, 1});
  r.loss = loss;
  return r;
}

}  // namespace slim
