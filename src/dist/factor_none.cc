// The build without ScaLAPACK: the widest factors stay with one rank each
// (quant/gptq_ranks.h factor_owners).
#include "dist/factor.h"
#include "util/error.h"

namespace slim::dist {

bool factor_over_ranks_available() { return false; }

bool inverse_cholesky_upper_over_ranks(const DampedSymmetric&, int, std::vector<float>&, std::vector<double>&) {
  fail("internal: a factor over ranks in a build without ScaLAPACK");
}

}  // namespace slim::dist
