// Gemma-2 and Gemma-3 (text) for tests/hf_reference.h: tiny checkpoints in the
// google/gemma-2-* and google/gemma-3-1b layouts, and modeling_gemma2.py /
// modeling_gemma3.py written out as float64 loops over the HF tensor names.
// Sizes are chosen so every Gemma feature changes the logits: the window (8)
// is shorter than the test sequences, the soft-caps are small enough to bend
// the scores, query_pre_attn_scalar differs from head_dim, head_dim differs
// from hidden/heads, norm weights (stored minus one) are far from zero, and
// Gemma-3's global layers carry a linear rope_scaling its local layers ignore.
#include <fmt/format.h>

#include "hf_reference.h"

namespace slim::test {

namespace {

using json = nlohmann::json;
using Vec = std::vector<double>;

// Gemma RMSNorm: x / rms(x) * (1 + w), over consecutive chunks of n values.
void gemma_norm(Vec& x, const HfTensor& w, size_t n, double eps) {
  for (size_t c0 = 0; c0 < x.size(); c0 += n) {
    double ss = 0;
    for (size_t i = 0; i < n; ++i) ss += x[c0 + i] * x[c0 + i];
    const double inv = 1 / std::sqrt(ss / double(n) + eps);
    for (size_t i = 0; i < n; ++i) x[c0 + i] = x[c0 + i] * inv * (1 + w.v[i]);
  }
}

double cap(double x, double c) { return c > 0 ? std::tanh(x / c) * c : x; }

// A soft-cap as Gemma2Config / Gemma3TextConfig read it: absent -> the class default, null -> none.
double softcap_of(const json& c, const char* key, double absent) {
  if (!c.contains(key)) return absent;
  return c[key].is_null() ? 0 : c[key].get<double>();
}

}  // namespace

HfCheckpoint make_gemma_checkpoint(const std::string& family, uint32_t seed) {
  const bool g3 = family == "gemma3";
  SLIM_CHECK(g3 || family == "gemma2", "reference: unknown family '{}'", family);
  const int d = 24, heads = 4, kv = 2, hd = 12, hid = 40, layers = g3 ? 4 : 3, vocab = 64;
  HfCheckpoint ck;
  ck.config = {{"architectures", {g3 ? "Gemma3ForCausalLM" : "Gemma2ForCausalLM"}},
               {"model_type", g3 ? "gemma3_text" : "gemma2"},
               {"hidden_size", d},
               {"intermediate_size", hid},
               {"num_hidden_layers", layers},
               {"num_attention_heads", heads},
               {"num_key_value_heads", kv},
               {"head_dim", hd},  // heads * head_dim = 48 != hidden_size
               {"vocab_size", vocab},
               {"max_position_embeddings", 128},
               {"rms_norm_eps", 1e-6},
               {"hidden_activation", "gelu_pytorch_tanh"},
               {"query_pre_attn_scalar", 20},
               {"sliding_window", 8},
               {"attention_bias", false},
               {"attention_dropout", 0.0},
               {"cache_implementation", "hybrid"},
               {"bos_token_id", 2},
               {"eos_token_id", 1},
               {"pad_token_id", 0},
               {"torch_dtype", "bfloat16"}};
  if (g3) {  // gemma-3-1b's keys; pattern 3: layers 0, 1, 3 slide, layer 2 is global
    ck.config["rope_theta"] = 1000000.0;
    ck.config["rope_local_base_freq"] = 10000.0;
    ck.config["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}};
    ck.config["sliding_window_pattern"] = 3;
    ck.config["attn_logit_softcapping"] = nullptr;
    ck.config["final_logit_softcapping"] = nullptr;
  } else {  // gemma-2's keys (both activation keys, as the hub files have); layers 0, 2 slide
    ck.config["hidden_act"] = "gelu_pytorch_tanh";
    ck.config["rope_theta"] = 10000.0;
    ck.config["attn_logit_softcapping"] = 1.5;
    ck.config["final_logit_softcapping"] = 4.0;
  }
  RandomTensors add{ck, std::mt19937(seed)};
  const double ws = 0.4 / std::sqrt(double(d));
  add("model.embed_tokens.weight", {vocab, d}, 0.5);
  for (int l = 0; l < layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    for (const char* n : {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                          "post_feedforward_layernorm"})
      add(p + n + ".weight", {d}, 0.3);  // stored minus one: the norm scales by 1 + w
    add(p + "self_attn.q_proj.weight", {heads * hd, d}, ws);
    add(p + "self_attn.k_proj.weight", {kv * hd, d}, ws);
    add(p + "self_attn.v_proj.weight", {kv * hd, d}, ws);
    add(p + "self_attn.o_proj.weight", {d, heads * hd}, 0.4 / std::sqrt(double(heads * hd)));
    if (g3) {
      add(p + "self_attn.q_norm.weight", {hd}, 0.3);
      add(p + "self_attn.k_norm.weight", {hd}, 0.3);
    }
    add(p + "mlp.gate_proj.weight", {hid, d}, 2 * ws);
    add(p + "mlp.up_proj.weight", {hid, d}, ws);
    add(p + "mlp.down_proj.weight", {d, hid}, 0.4 / std::sqrt(double(hid)));
  }
  add("model.norm.weight", {d}, 0.3);
  return ck;  // tied head: no lm_head.weight, as the hub files
}

// Gemma2ForCausalLM / Gemma3ForCausalLM forward, one token at a time.
std::vector<double> gemma_reference_logits(const HfCheckpoint& ck, const std::vector<int>& tokens) {
  const json& c = ck.config;
  const bool g3 = c["model_type"] == "gemma3_text";
  const int d = c["hidden_size"], heads = c["num_attention_heads"], kvh = c["num_key_value_heads"];
  const int layers = c["num_hidden_layers"], hd = c["head_dim"];
  const double eps = c["rms_norm_eps"], scaling = std::pow(c["query_pre_attn_scalar"].get<double>(), -0.5);
  const int window = c["sliding_window"];
  const double attn_cap = g3 ? 0 : softcap_of(c, "attn_logit_softcapping", 50.0);  // Gemma-3's attention ignores it
  const double final_cap = softcap_of(c, "final_logit_softcapping", g3 ? 0 : 30.0);
  // layer_types, else the BC rule: sliding unless (i + 1) % pattern == 0 (Gemma-2: pattern 2).
  std::vector<bool> sliding(static_cast<size_t>(layers));
  for (int l = 0; l < layers; ++l)
    sliding[size_t(l)] = c.contains("layer_types")
                             ? c["layer_types"][size_t(l)] == "sliding_attention"
                             : (l + 1) % (g3 ? c.value("sliding_window_pattern", 6) : 2) != 0;
  const int T = int(tokens.size());
  const RopeFrequencies global = rope_frequencies(
      c["rope_theta"], hd, parse_rope_scaling(c.value("rope_scaling", json(nullptr)), "reference"),
      c["max_position_embeddings"], T);
  // Gemma-3 local layers: rope_local_base_freq, default rope (no scaling).
  const RopeFrequencies local =
      g3 ? rope_frequencies(c["rope_local_base_freq"], hd, RopeScaling{}, c["max_position_embeddings"], T) : global;
  auto rope = [&](Vec& v, int pos, const RopeFrequencies& f) {
    for (size_t h0 = 0; h0 < v.size(); h0 += size_t(hd))
      for (int i = 0; i < hd / 2; ++i) {
        const double a = pos * f.inv_freq[size_t(i)], cs = std::cos(a) * f.attention_scale,
                     sn = std::sin(a) * f.attention_scale;
        const double x0 = v[h0 + size_t(i)], x1 = v[h0 + size_t(i + hd / 2)];
        v[h0 + size_t(i)] = x0 * cs - x1 * sn;
        v[h0 + size_t(i + hd / 2)] = x1 * cs + x0 * sn;
      }
  };
  // The normalizer sqrt(hidden_size) in the run dtype: bfloat16 rounds it (sqrt(24) = 4.899 -> 4.90625).
  const double normalizer = c["torch_dtype"] == "bfloat16" ? bf16_to_f32(f32_to_bf16(float(std::sqrt(double(d)))))
                                                           : std::sqrt(double(d));
  const HfTensor& emb = ck.at("model.embed_tokens.weight");
  std::vector<std::vector<Vec>> K(static_cast<size_t>(layers)), V(static_cast<size_t>(layers));
  std::vector<double> logits;
  for (int t = 0; t < T; ++t) {
    Vec x(emb.v.begin() + int64_t(tokens[size_t(t)]) * d, emb.v.begin() + int64_t(tokens[size_t(t)] + 1) * d);
    for (auto& e : x) e *= normalizer;
    for (int l = 0; l < layers; ++l) {
      const std::string p = fmt::format("model.layers.{}.", l);
      auto W = [&](const std::string& n) -> const HfTensor& { return ck.at(p + n + ".weight"); };
      Vec n = x;
      gemma_norm(n, W("input_layernorm"), size_t(d), eps);
      Vec q = ref_matvec(W("self_attn.q_proj"), n, nullptr), k = ref_matvec(W("self_attn.k_proj"), n, nullptr);
      const Vec v = ref_matvec(W("self_attn.v_proj"), n, nullptr);
      if (ck.has(p + "self_attn.q_norm.weight")) {
        gemma_norm(q, W("self_attn.q_norm"), size_t(hd), eps);
        gemma_norm(k, W("self_attn.k_norm"), size_t(hd), eps);
      }
      const RopeFrequencies& f = g3 && sliding[size_t(l)] ? local : global;
      rope(q, t, f);
      rope(k, t, f);
      K[size_t(l)].push_back(k);
      V[size_t(l)].push_back(v);
      Vec att(size_t(heads * hd), 0.0);
      for (int h = 0; h < heads; ++h) {
        const int g = h / (heads / kvh);
        Vec s(size_t(t + 1));
        double mx = -1e300, sum = 0;
        for (int j = 0; j <= t; ++j) {
          double dot = 0;
          for (int i = 0; i < hd; ++i) dot += q[size_t(h * hd + i)] * K[size_t(l)][size_t(j)][size_t(g * hd + i)];
          // soft-cap, then the mask: a sliding layer sees key j while t - j < window
          s[size_t(j)] = sliding[size_t(l)] && t - j >= window ? -1e300 : cap(dot * scaling, attn_cap);
          mx = std::max(mx, s[size_t(j)]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < hd; ++i)
            att[size_t(h * hd + i)] += s[size_t(j)] / sum * V[size_t(l)][size_t(j)][size_t(g * hd + i)];
      }
      Vec o = ref_matvec(W("self_attn.o_proj"), att, nullptr);
      gemma_norm(o, W("post_attention_layernorm"), size_t(d), eps);
      for (int i = 0; i < d; ++i) x[size_t(i)] += o[size_t(i)];
      n = x;
      gemma_norm(n, W("pre_feedforward_layernorm"), size_t(d), eps);
      Vec gate = ref_matvec(W("mlp.gate_proj"), n, nullptr);
      const Vec up = ref_matvec(W("mlp.up_proj"), n, nullptr);
      for (size_t i = 0; i < gate.size(); ++i) {  // gelu_pytorch_tanh
        const double g0 = gate[i];
        gate[i] = 0.5 * g0 * (1 + std::tanh(std::sqrt(2 / M_PI) * (g0 + 0.044715 * g0 * g0 * g0))) * up[i];
      }
      Vec down = ref_matvec(W("mlp.down_proj"), gate, nullptr);
      gemma_norm(down, W("post_feedforward_layernorm"), size_t(d), eps);
      for (int i = 0; i < d; ++i) x[size_t(i)] += down[size_t(i)];
    }
    gemma_norm(x, ck.at("model.norm.weight"), size_t(d), eps);
    Vec lg = ref_matvec(ck.has("lm_head.weight") ? ck.at("lm_head.weight") : emb, x, nullptr);
    for (auto& e : lg) e = cap(e, final_cap);
    logits.insert(logits.end(), lg.begin(), lg.end());
  }
  return logits;
}

}  // namespace slim::test
