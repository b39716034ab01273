#include "model/weights.h"

namespace slim {

std::vector<BlockWeights::LinearRef> BlockWeights::linears() {
  return {
      {"q_proj", InputSite::AttnIn, &wq},     {"k_proj", InputSite::AttnIn, &wk},
      {"v_proj", InputSite::AttnIn, &wv},     {"o_proj", InputSite::AttnOut, &wo},
      {"gate_proj", InputSite::MlpIn, &w_gate}, {"up_proj", InputSite::MlpIn, &w_up},
      {"down_proj", InputSite::MlpHidden, &w_down},
  };
}

}  // namespace slim
