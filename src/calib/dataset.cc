#include "calib/dataset.h"

#include <random>

#include "util/error.h"

namespace slim {

namespace {
uint64_t draw_below(std::mt19937_64& g, uint64_t n) {
  // Reject the top partial bucket so every value is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t x;
  do x = g();
  while (x >= limit);
  return x % n;
}
}  // namespace

CalibWindows sample_windows(std::span<const int> text, int nsamples, int seqlen, uint64_t seed) {
  SLIM_CHECK(nsamples > 0 && seqlen > 1, "calibration needs nsamples > 0 and seqlen > 1 (got {} x {})", nsamples,
             seqlen);
  SLIM_CHECK(int64_t(text.size()) > seqlen + 1,
             "the calibration text has {} tokens, too few for windows of {} tokens", text.size(), seqlen);
  std::mt19937_64 g(seed);
  CalibWindows w;
  w.seqlen = seqlen;
  const uint64_t range = uint64_t(text.size()) - uint64_t(seqlen);  // starts 0 .. ntok-seqlen-1
  for (int i = 0; i < nsamples; ++i) {
    const int64_t s = int64_t(draw_below(g, range));
    w.starts.push_back(s);
    w.tokens.emplace_back(text.begin() + s, text.begin() + s + seqlen);
  }
  return w;
}

}  // namespace slim
