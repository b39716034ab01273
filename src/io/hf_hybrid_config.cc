#include "io/hf_hybrid_config.h"

#include <cmath>

#include "util/error.h"
#include "util/half.h"
#include "util/json_num.h"

namespace slim {

using json = nlohmann::json;

namespace {

constexpr const char* kPinnedScaleKey = "slim_embed_scale";

// HF's rule when "layer_types" is absent: layer i is global iff (i + 1) % pattern == 0.
LayerAttn by_pattern(int layer, int pattern) {
  return (layer + 1) % pattern == 0 ? LayerAttn::Global : LayerAttn::Local;
}

// A soft-cap: absent gives the config class default, null none (0), else a positive number.
double softcap_field(const json& j, const char* key, double absent, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end()) return absent;
  if (it->is_null()) return 0;
  return json_float(*it, path, key, 1e-6, 1e9);
}

// transformers multiplies the embeddings by sqrt(hidden_size) cast to the
// dtype the model runs in (Gemma-2: torch.tensor(normalizer, dtype=
// hidden_states.dtype); Gemma-3: embed_scale.to(weight.dtype)): for a
// bfloat16 checkpoint, sqrt(3072) = 55.4256 becomes 55.5. We mirror the run
// dtype HF picks by default, the config's torch_dtype ("dtype" in newer
// files); absent or float32: unrounded. Our activations stay fp32: only the
// factor is rounded, as HF's is.
float embed_scale_of(const json& j, int hidden, const std::string& path) {
  const float s = float(std::sqrt(double(hidden)));
  const char* key = j.contains("torch_dtype") ? "torch_dtype" : "dtype";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return s;
  SLIM_CHECK(it->is_string(), "{}: field '{}' must be a string, got {} {}", path, key, it->type_name(), it->dump());
  const std::string d = it->get<std::string>();
  if (d == "bfloat16") return bf16_to_f32(f32_to_bf16(s));
  if (d == "float16") return f16_to_f32(f32_to_f16(s));
  SLIM_CHECK(d == "float32", "{}: field '{}' = '{}' is not bfloat16, float16 or float32 (it sets how the embedding "
             "scale sqrt(hidden_size) is rounded)", path, key, d);
  return s;
}

}  // namespace

void parse_hybrid_config(const json& j, const HfHybridKeys& k, const std::string& path, ModelConfig& c) {
  if (auto it = j.find("use_bidirectional_attention"); it != j.end() && !it->is_null()) {
    SLIM_CHECK(it->is_boolean(), "{}: field 'use_bidirectional_attention' must be a boolean, got {}", path, it->dump());
    SLIM_CHECK(!it->get<bool>(), "{}: use_bidirectional_attention true (an embedding model) is not supported: only "
               "causal language models are", path);
  }
  // Per-layer attention: "layer_types" (newer transformers) wins; older files give a pattern.
  c.layer_attn.assign(size_t(c.n_layers), LayerAttn::Global);
  if (auto it = j.find("layer_types"); it != j.end() && !it->is_null()) {
    SLIM_CHECK(it->is_array() && int(it->size()) == c.n_layers, "{}: field 'layer_types' must list {} layers, got {}",
               path, c.n_layers, it->dump().substr(0, 80));
    for (int l = 0; l < c.n_layers; ++l) {
      const json& t = (*it)[size_t(l)];
      const std::string s = t.is_string() ? t.get<std::string>() : t.dump();
      SLIM_CHECK(s == "sliding_attention" || s == "full_attention",
                 "{}: field 'layer_types'[{}] = '{}' is not supported (sliding_attention or full_attention)", path, l,
                 s);
      c.layer_attn[size_t(l)] = s == "sliding_attention" ? LayerAttn::Local : LayerAttn::Global;
    }
  } else {
    const int pattern =
        k.pattern_key ? int(json_int_or(j, k.pattern_key, k.default_pattern, path, 1, 1 << 16)) : k.default_pattern;
    for (int l = 0; l < c.n_layers; ++l) c.layer_attn[size_t(l)] = by_pattern(l, pattern);
  }
  if (auto it = j.find("sliding_window"); it != j.end() && it->is_null()) {
    for (int l = 0; l < c.n_layers; ++l)
      SLIM_CHECK(!c.is_local(l), "{}: field 'sliding_window' is null but layer {} is a sliding-window layer", path, l);
    c.sliding_window = 0;
  } else {
    c.sliding_window = int(json_int_or(j, "sliding_window", k.default_window, path, 1, 1 << 24));
  }
  c.attn_scalar = float(json_float_or(j, "query_pre_attn_scalar", k.default_query_scalar, path, 1e-6, 1e12));
  c.attn_softcap = float(softcap_field(j, "attn_logit_softcapping", k.default_attn_softcap, path));
  SLIM_CHECK(k.attn_softcap_applied || c.attn_softcap == 0,
             "{}: field 'attn_logit_softcapping' = {} is set, but transformers' {} attention does not apply it; "
             "refused rather than guessing (null matches the model HF runs)", path, c.attn_softcap, c.arch);
  c.final_softcap = float(softcap_field(j, "final_logit_softcapping", k.default_final_softcap, path));
  if (k.local_rope)
    c.rope_local_theta = float(json_float_or(j, "rope_local_base_freq", k.default_local_theta, path, 1e-3, 1e12));
  // slim's own outputs pin the factor the model was quantized with: an f32
  // fake-quantized or packed copy of a bf16 model would otherwise derive the
  // unrounded one from its torch_dtype and no longer equal the model it came from.
  c.embed_scale = j.contains(kPinnedScaleKey) ? float(json_float(j[kPinnedScaleKey], path, kPinnedScaleKey, 1e-6, 1e6))
                                              : embed_scale_of(j, c.dim, path);
}

void write_hybrid_config(const ModelConfig& c, const HfHybridKeys& k, json& cfg) {
  json types = json::array();
  for (int l = 0; l < c.n_layers; ++l) types.push_back(c.is_local(l) ? "sliding_attention" : "full_attention");
  cfg["layer_types"] = types;
  // transformers before "layer_types" (< 4.53) reads the pattern: written
  // when the layers follow one (the first global layer gives it).
  if (k.pattern_key) {
    int pattern = 0;
    while (pattern < c.n_layers && c.is_local(pattern)) ++pattern;
    ++pattern;
    bool follows = true;
    for (int l = 0; l < c.n_layers; ++l) follows = follows && (by_pattern(l, pattern) == LayerAttn::Local) == c.is_local(l);
    if (follows) cfg[k.pattern_key] = pattern;
  }
  cfg["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  cfg["query_pre_attn_scalar"] = c.attn_scalar;
  cfg["attn_logit_softcapping"] = c.attn_softcap > 0 ? json(c.attn_softcap) : json(nullptr);
  cfg["final_logit_softcapping"] = c.final_softcap > 0 ? json(c.final_softcap) : json(nullptr);
  if (k.local_rope) cfg["rope_local_base_freq"] = c.rope_local_theta;
  cfg[kPinnedScaleKey] = c.embed_scale;
}

}  // namespace slim
