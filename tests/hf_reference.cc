#include "hf_reference.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

namespace slim::test {

namespace {

using json = nlohmann::json;
using Vec = std::vector<double>;

struct Family {
  const char* name;
  const char* architecture;
  const char* model_type;
  bool qkv_bias, qk_norm;
  int head_dim;  // 0: hidden_size / heads
};
constexpr Family kFamilies[] = {
    {"llama", "LlamaForCausalLM", "llama", false, false, 0},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", true, false, 0},
    {"qwen3", "Qwen3ForCausalLM", "qwen3", false, true, 12},  // head_dim != hidden/heads, as Qwen3 has
};

const Family& family(const std::string& name) {
  for (const auto& f : kFamilies)
    if (name == f.name) return f;
  fail("reference: unknown family '{}'", name);
}

double bf16_round(double x) { return bf16_to_f32(f32_to_bf16(float(x))); }

// y (out) = W (out, in) x (+ b)
Vec matvec(const HfTensor& W, const Vec& x, const HfTensor* b) {
  const int64_t out = W.shape[0], in = W.shape[1];
  Vec y(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double s = b ? b->v[size_t(o)] : 0;
    for (int64_t i = 0; i < in; ++i) s += W.v[size_t(o * in + i)] * x[size_t(i)];
    y[size_t(o)] = s;
  }
  return y;
}

// LlamaRMSNorm over consecutive chunks of `n` values (n = size: the whole vector).
void rms_norm_chunks(Vec& x, const HfTensor& w, size_t n, double eps) {
  for (size_t c0 = 0; c0 < x.size(); c0 += n) {
    double ss = 0;
    for (size_t i = 0; i < n; ++i) ss += x[c0 + i] * x[c0 + i];
    const double inv = 1 / std::sqrt(ss / double(n) + eps);
    for (size_t i = 0; i < n; ++i) x[c0 + i] = x[c0 + i] * inv * w.v[i];
  }
}

}  // namespace

void HfCheckpoint::write(const std::string& dir) const {
  std::vector<std::vector<uint16_t>> store;
  std::vector<TensorToWrite> out;
  store.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    auto& b = store.emplace_back(t.v.size());
    for (size_t i = 0; i < t.v.size(); ++i) b[i] = f32_to_bf16(float(t.v[i]));
    out.push_back({name, DType::BF16, t.shape,
                   std::span<const std::byte>(reinterpret_cast<const std::byte*>(b.data()), b.size() * 2)});
  }
  write_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), out, {{"format", "pt"}});
  std::ofstream(std::filesystem::path(dir) / "config.json", std::ios::binary) << config.dump(2);
}

HfCheckpoint make_hf_checkpoint(const std::string& family_name, uint32_t seed) {
  const Family& f = family(family_name);
  const int d = 24, heads = 4, kv = 2, hid = 40, layers = 2, vocab = 64;
  const int hd = f.head_dim ? f.head_dim : d / heads;
  HfCheckpoint ck;
  ck.config = {{"architectures", {f.architecture}},
               {"model_type", f.model_type},
               {"hidden_size", d},
               {"intermediate_size", hid},
               {"num_hidden_layers", layers},
               {"num_attention_heads", heads},
               {"num_key_value_heads", kv},
               {"vocab_size", vocab},
               {"max_position_embeddings", 128},
               {"rms_norm_eps", 1e-6},
               {"rope_theta", 10000.0},
               {"hidden_act", "silu"},
               {"tie_word_embeddings", family_name == "qwen3"},
               {"bos_token_id", 1},
               {"eos_token_id", 2},
               {"torch_dtype", "bfloat16"}};
  if (f.head_dim) ck.config["head_dim"] = hd;
  if (family_name != "llama") ck.config["use_sliding_window"] = false;
  std::mt19937 rng(seed);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double scale, double mean = 0) {
    std::normal_distribution<double> nd(mean, scale);
    HfTensor t{shape, {}};
    int64_t n = 1;
    for (auto s : shape) n *= s;
    t.v.resize(size_t(n));
    for (auto& x : t.v) x = bf16_round(nd(rng));
    ck.tensors[name] = std::move(t);
  };
  const double ws = 0.4 / std::sqrt(double(d));
  add("model.embed_tokens.weight", {vocab, d}, 1.0);
  for (int l = 0; l < layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    add(p + "input_layernorm.weight", {d}, 0.1, 1.0);
    add(p + "self_attn.q_proj.weight", {heads * hd, d}, ws);
    add(p + "self_attn.k_proj.weight", {kv * hd, d}, ws);
    add(p + "self_attn.v_proj.weight", {kv * hd, d}, ws);
    if (f.qkv_bias) {
      add(p + "self_attn.q_proj.bias", {heads * hd}, 0.1);
      add(p + "self_attn.k_proj.bias", {kv * hd}, 0.1);
      add(p + "self_attn.v_proj.bias", {kv * hd}, 0.1);
    }
    if (f.qk_norm) {
      add(p + "self_attn.q_norm.weight", {hd}, 0.2, 1.0);
      add(p + "self_attn.k_norm.weight", {hd}, 0.2, 1.0);
    }
    add(p + "self_attn.o_proj.weight", {d, heads * hd}, ws);
    add(p + "post_attention_layernorm.weight", {d}, 0.1, 1.0);
    add(p + "mlp.gate_proj.weight", {hid, d}, ws);
    add(p + "mlp.up_proj.weight", {hid, d}, ws);
    add(p + "mlp.down_proj.weight", {d, hid}, 0.4 / std::sqrt(double(hid)));
  }
  add("model.norm.weight", {d}, 0.1, 1.0);
  if (!ck.config["tie_word_embeddings"].get<bool>()) add("lm_head.weight", {vocab, d}, 0.3);
  return ck;
}

std::vector<double> hf_reference_logits(const HfCheckpoint& ck, const std::vector<int>& tokens) {
  const json& c = ck.config;
  const int d = c["hidden_size"], heads = c["num_attention_heads"], kvh = c["num_key_value_heads"];
  const int layers = c["num_hidden_layers"], vocab = c["vocab_size"];
  const int hd = c.contains("head_dim") ? c["head_dim"].get<int>() : d / heads;
  const double eps = c["rms_norm_eps"], theta = c["rope_theta"];
  const RopeScaling scaling = parse_rope_scaling(c.value("rope_scaling", json(nullptr)), "reference");
  const int T = int(tokens.size());
  const RopeFrequencies freq = rope_frequencies(theta, hd, scaling, c["max_position_embeddings"], T);
  const HfTensor& emb = ck.at("model.embed_tokens.weight");
  auto opt = [&](const std::string& n) { return ck.has(n) ? &ck.at(n) : nullptr; };
  // rotate_half: pairs (i, i + hd/2) of every head.
  auto rope = [&](Vec& v, int pos) {
    for (size_t h0 = 0; h0 < v.size(); h0 += size_t(hd))
      for (int i = 0; i < hd / 2; ++i) {
        const double a = pos * freq.inv_freq[size_t(i)], cs = std::cos(a) * freq.attention_scale,
                     sn = std::sin(a) * freq.attention_scale;
        const double x0 = v[h0 + size_t(i)], x1 = v[h0 + size_t(i + hd / 2)];
        v[h0 + size_t(i)] = x0 * cs - x1 * sn;
        v[h0 + size_t(i + hd / 2)] = x1 * cs + x0 * sn;
      }
  };
  std::vector<std::vector<Vec>> K(static_cast<size_t>(layers)), V(static_cast<size_t>(layers));
  std::vector<double> logits;
  for (int t = 0; t < T; ++t) {
    Vec x(emb.v.begin() + int64_t(tokens[size_t(t)]) * d, emb.v.begin() + int64_t(tokens[size_t(t)] + 1) * d);
    for (int l = 0; l < layers; ++l) {
      const std::string p = fmt::format("model.layers.{}.", l);
      Vec n = x;
      rms_norm_chunks(n, ck.at(p + "input_layernorm.weight"), size_t(d), eps);
      Vec q = matvec(ck.at(p + "self_attn.q_proj.weight"), n, opt(p + "self_attn.q_proj.bias"));
      Vec k = matvec(ck.at(p + "self_attn.k_proj.weight"), n, opt(p + "self_attn.k_proj.bias"));
      Vec v = matvec(ck.at(p + "self_attn.v_proj.weight"), n, opt(p + "self_attn.v_proj.bias"));
      if (auto* qn = opt(p + "self_attn.q_norm.weight")) rms_norm_chunks(q, *qn, size_t(hd), eps);
      if (auto* kn = opt(p + "self_attn.k_norm.weight")) rms_norm_chunks(k, *kn, size_t(hd), eps);
      rope(q, t);
      rope(k, t);
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
          s[size_t(j)] = dot / std::sqrt(double(hd));
          mx = std::max(mx, s[size_t(j)]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < hd; ++i)
            att[size_t(h * hd + i)] += s[size_t(j)] / sum * V[size_t(l)][size_t(j)][size_t(g * hd + i)];
      }
      const Vec o = matvec(ck.at(p + "self_attn.o_proj.weight"), att, nullptr);
      for (int i = 0; i < d; ++i) x[size_t(i)] += o[size_t(i)];
      n = x;
      rms_norm_chunks(n, ck.at(p + "post_attention_layernorm.weight"), size_t(d), eps);
      Vec gate = matvec(ck.at(p + "mlp.gate_proj.weight"), n, nullptr);
      const Vec up = matvec(ck.at(p + "mlp.up_proj.weight"), n, nullptr);
      for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      const Vec down = matvec(ck.at(p + "mlp.down_proj.weight"), gate, nullptr);
      for (int i = 0; i < d; ++i) x[size_t(i)] += down[size_t(i)];
    }
    rms_norm_chunks(x, ck.at("model.norm.weight"), size_t(d), eps);
    const HfTensor& head = ck.has("lm_head.weight") ? ck.at("lm_head.weight") : emb;
    const Vec lg = matvec(head, x, nullptr);
    logits.insert(logits.end(), lg.begin(), lg.end());
  }
  (void)vocab;
  return logits;
}

}  // namespace slim::test
