#include "model/config.h"

#include "util/error.h"

namespace slim {

int64_t ModelConfig::n_params() const {
  const int64_t d = dim, h = hidden_dim, L = n_layers;
  int64_t per_block = 2 * d                              // two norms
                      + d * q_dim() + 2 * d * kv_dim()  // wq, wk, wv
                      + int64_t(q_dim()) * d           // wo
                      + 3 * d * h;                       // gate, up, down
  if (qkv_bias) per_block += q_dim() + 2 * kv_dim();
  if (qk_norm) per_block += 2 * head_dim;
  int64_t total = int64_t(vocab_size) * d + L * per_block + d;
  if (!tie_embeddings) total += int64_t(vocab_size) * d;
  return total;
}

void validate_config(const ModelConfig& c, const std::string& what) {
  SLIM_CHECK(c.dim > 0 && c.hidden_dim > 0 && c.n_layers > 0 && c.n_heads > 0 && c.n_kv_heads > 0 &&
                 c.head_dim > 0 && c.vocab_size > 0 && c.max_seq_len > 0,
             "{}: sizes must be positive (dim {}, hidden {}, layers {}, heads {}, kv heads {}, head_dim "
             "{}, vocab {}, context {})",
             what, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.vocab_size,
             c.max_seq_len);
  SLIM_CHECK(c.dim <= (1 << 20) && c.hidden_dim <= (1 << 22) && c.n_layers <= 4096 &&
                 c.vocab_size <= (1 << 24) && c.max_seq_len <= (1 << 24) && c.n_heads <= 4096,
             "{}: implausibly large model dimensions", what);
  SLIM_CHECK(c.n_heads % c.n_kv_heads == 0, "{}: n_heads {} is not a multiple of n_kv_heads {}", what,
             c.n_heads, c.n_kv_heads);
  SLIM_CHECK(c.pos == PosKind::Learned || c.head_dim % 2 == 0, "{}: RoPE needs an even head_dim, got {}",
             what, c.head_dim);
  SLIM_CHECK(c.norm_eps > 0 && c.norm_eps < 1, "{}: norm eps {} out of range", what, c.norm_eps);
  SLIM_CHECK(c.rope_theta > 0, "{}: rope_theta must be positive", what);
  SLIM_CHECK(c.norm == NormKind::RMSNorm && c.mlp == MlpKind::SwiGLU && c.pos != PosKind::Learned,
             "{}: LayerNorm / ReLU MLP / learned positions (OPT-style) are not supported yet", what);
}

}  // namespace slim
