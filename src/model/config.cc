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
  if (sandwich_norm) per_block += 2 * d;  // post-attention and post-MLP norms
  if (mlp == MlpKind::ReLU) per_block -= d * h;  // no gate
  if (all_bias) per_block += 2 * d + 2 * d + h + (mlp != MlpKind::ReLU ? h : 0) + (qkv_bias ? 0 : q_dim() + 2 * kv_dim());
  const int64_t e = embed_width();
  int64_t total = int64_t(vocab_size) * e + L * per_block + (final_norm ? (all_bias ? 2 : 1) * d : 0);
  if (!tie_embeddings) total += int64_t(vocab_size) * e;
  if (pos == PosKind::Learned) total += int64_t(max_seq_len + pos_offset) * d;
  if (e != d) total += 2 * e * d;  // project_in, project_out
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
  SLIM_CHECK(c.layer_attn.empty() || int(c.layer_attn.size()) == c.n_layers,
             "{}: {} per-layer attention types for {} layers", what, c.layer_attn.size(), c.n_layers);
  for (int l = 0; l < int(c.layer_attn.size()); ++l)
    SLIM_CHECK(!c.is_local(l) || c.sliding_window > 0, "{}: layer {} uses sliding-window attention but the window is 0",
               what, l);
  SLIM_CHECK(c.sliding_window >= 0 && c.rope_local_theta >= 0 && c.attn_scalar >= 0 && c.attn_softcap >= 0 &&
                 c.final_softcap >= 0 && c.embed_scale > 0,
             "{}: negative window, local RoPE base, attention scalar or soft-cap, or a non-positive embedding scale",
             what);
  SLIM_CHECK(c.embed_dim >= 0 && c.embed_dim <= (1 << 20) && c.pos_offset >= 0 && c.pos_offset <= 1024,
             "{}: embedding width {} or position offset {} out of range", what, c.embed_dim, c.pos_offset);
}

}  // namespace slim
