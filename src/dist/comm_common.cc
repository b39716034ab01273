#include "dist/comm.h"

#include <algorithm>

namespace slim::dist {

Share share_of(int64_t n, int r, int ranks) {
  const int64_t base = n / ranks, extra = n % ranks;
  const int64_t begin = r * base + std::min<int64_t>(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

}  // namespace slim::dist
