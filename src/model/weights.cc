#include "model/weights.h"

#include "pack/packed_linear.h"

namespace slim {

int64_t Linear::out() const { return packed ? packed->rows() : w.rows(); }
int64_t Linear::in() const { return packed ? packed->cols() : w.cols(); }

std::vector<BlockWeights::LinearRef> BlockWeights::linears() {
  return {
      {"q_proj", InputSite::AttnIn, &wq},     {"k_proj", InputSite::AttnIn, &wk},
      {"v_proj", InputSite::AttnIn, &wv},     {"o_proj", InputSite::AttnOut, &wo},
      {"gate_proj", InputSite::MlpIn, &w_gate}, {"up_proj", InputSite::MlpIn, &w_up},
      {"down_proj", InputSite::MlpHidden, &w_down},
  };
}

}  // namespace slim
