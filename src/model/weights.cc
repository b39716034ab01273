#include "model/weights.h"

#include "pack/packed_linear.h"

#include "util/error.h"

namespace slim {

std::pair<int64_t, int64_t> linear_shape(const ModelConfig& c, const std::string& name) {
  const int64_t d = c.dim, h = c.hidden_dim;
  if (name == "q_proj") return {c.q_dim(), d};
  if (name == "k_proj" || name == "v_proj") return {c.kv_dim(), d};
  if (name == "o_proj") return {d, c.q_dim()};
  if (name == "gate_proj" || name == "up_proj") return {h, d};
  if (name == "down_proj") return {d, h};
  fail("unknown block linear '{}'", name);
}

bool linear_has_bias(const ModelConfig& c, InputSite site) {
  return c.all_bias || (c.qkv_bias && site == InputSite::AttnIn);
}

int64_t Linear::out() const { return packed ? packed->rows() : w.rows(); }
int64_t Linear::in() const { return packed ? packed->cols() : w.cols(); }

std::vector<BlockWeights::LinearRef> BlockWeights::linears() {
  if (!has_gate)
    return {
        {"q_proj", InputSite::AttnIn, &wq},  {"k_proj", InputSite::AttnIn, &wk},
        {"v_proj", InputSite::AttnIn, &wv},  {"o_proj", InputSite::AttnOut, &wo},
        {"up_proj", InputSite::MlpIn, &w_up}, {"down_proj", InputSite::MlpHidden, &w_down},
    };
  return {
      {"q_proj", InputSite::AttnIn, &wq},     {"k_proj", InputSite::AttnIn, &wk},
      {"v_proj", InputSite::AttnIn, &wv},     {"o_proj", InputSite::AttnOut, &wo},
      {"gate_proj", InputSite::MlpIn, &w_gate}, {"up_proj", InputSite::MlpIn, &w_up},
      {"down_proj", InputSite::MlpHidden, &w_down},
  };
}

}  // namespace slim
