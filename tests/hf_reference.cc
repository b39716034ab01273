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
  bool fused = false;  // Phi-3: qkv_proj and gate_up_proj
  int sliding_window = 0;
};
constexpr Family kFamilies[] = {
    {"llama", "LlamaForCausalLM", "llama", false, false, 0},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", true, false, 0},
    {"qwen3", "Qwen3ForCausalLM", "qwen3", false, true, 12},  // head_dim != hidden/heads, as Qwen3 has
    {"phi3", "Phi3ForCausalLM", "phi3", false, false, 0, true, 16},  // window shorter than the test sequence
};

const Family& family(const std::string& name) {
  for (const auto& f : kFamilies)
    if (name == f.name) return f;
  fail("reference: unknown family '{}'", name);
}

bool is_f16(const HfCheckpoint& ck) { return ck.config.value("torch_dtype", "") == "float16"; }

Vec matvec(const HfTensor& W, const Vec& x, const HfTensor* b) { return ref_matvec(W, x, b); }

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

void RandomTensors::operator()(const std::string& name, std::vector<int64_t> shape, double scale, double mean) {
  std::normal_distribution<double> nd(mean, scale);
  HfTensor t{shape, {}};
  int64_t n = 1;
  for (auto sz : shape) n *= sz;
  t.v.resize(size_t(n));
  const bool f16 = is_f16(ck);
  for (auto& x : t.v) {
    const float v = float(nd(rng));
    x = f16 ? f16_to_f32(f32_to_f16(v)) : bf16_to_f32(f32_to_bf16(v));
  }
  ck.tensors[name] = std::move(t);
}

Vec ref_matvec(const HfTensor& W, const Vec& x, const HfTensor* b) {
  const int64_t out = W.shape[0], in = W.shape[1];
  Vec y(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double s = b ? b->v[size_t(o)] : 0;
    for (int64_t i = 0; i < in; ++i) s += W.v[size_t(o * in + i)] * x[size_t(i)];
    y[size_t(o)] = s;
  }
  return y;
}

void HfCheckpoint::write(const std::string& dir) const {
  std::vector<std::vector<uint16_t>> store;
  std::vector<TensorToWrite> out;
  store.reserve(tensors.size());
  const bool f16 = is_f16(*this);  // values were rounded to this dtype
  for (const auto& [name, t] : tensors) {
    auto& b = store.emplace_back(t.v.size());
    for (size_t i = 0; i < t.v.size(); ++i) b[i] = f16 ? f32_to_f16(float(t.v[i])) : f32_to_bf16(float(t.v[i]));
    out.push_back({name, f16 ? DType::F16 : DType::BF16, t.shape,
                   std::span<const std::byte>(reinterpret_cast<const std::byte*>(b.data()), b.size() * 2)});
  }
  write_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), out, {{"format", "pt"}});
  std::ofstream(std::filesystem::path(dir) / "config.json", std::ios::binary) << config.dump(2);
}

namespace {

// OPT as facebook/opt-* ship it: "decoder.*" names (no "model." root), fp16,
// tied head with no lm_head.weight; "opt350m" is the post-norm variant with a
// narrower word embedding (project_in/out) and no final layer norm.
HfCheckpoint make_opt_checkpoint(bool post_norm, uint32_t seed) {
  const int d = 24, heads = 4, ffn = 40, layers = 2, vocab = 64, max_pos = 128, e = post_norm ? 16 : d;
  HfCheckpoint ck;
  ck.config = {{"architectures", {"OPTForCausalLM"}},
               {"model_type", "opt"},
               {"hidden_size", d},
               {"ffn_dim", ffn},
               {"num_hidden_layers", layers},
               {"num_attention_heads", heads},
               {"vocab_size", vocab},
               {"max_position_embeddings", max_pos},
               {"word_embed_proj_dim", e},
               {"do_layer_norm_before", !post_norm},
               {"activation_function", "relu"},
               {"enable_bias", true},
               {"bos_token_id", 2},
               {"eos_token_id", 2},
               {"torch_dtype", "float16"}};
  RandomTensors add{ck, std::mt19937(seed)};
  const double ws = 0.4 / std::sqrt(double(d));
  add("decoder.embed_tokens.weight", {vocab, e}, 1.0);
  add("decoder.embed_positions.weight", {max_pos + 2, d}, 0.3);
  if (e != d) {
    add("decoder.project_in.weight", {d, e}, 0.5 / std::sqrt(double(e)));
    add("decoder.project_out.weight", {e, d}, 0.5 / std::sqrt(double(d)));
  }
  for (int l = 0; l < layers; ++l) {
    const std::string p = fmt::format("decoder.layers.{}.", l);
    for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"}) {
      add(p + n + ".weight", {d, d}, ws);
      add(p + n + ".bias", {d}, 0.1);
    }
    for (const char* n : {"self_attn_layer_norm", "final_layer_norm"}) {
      add(p + n + ".weight", {d}, 0.1, 1.0);
      add(p + n + ".bias", {d}, 0.1);
    }
    add(p + "fc1.weight", {ffn, d}, ws);
    add(p + "fc1.bias", {ffn}, 0.1);
    add(p + "fc2.weight", {d, ffn}, 0.4 / std::sqrt(double(ffn)));
    add(p + "fc2.bias", {d}, 0.1);
  }
  if (!post_norm) {
    add("decoder.final_layer_norm.weight", {d}, 0.1, 1.0);
    add("decoder.final_layer_norm.bias", {d}, 0.1);
  }
  return ck;
}

// modeling_opt.py: OPTDecoder with OPTLearnedPositionalEmbedding (offset 2),
// q scaled by head_dim^-0.5, nn.LayerNorm (eps 1e-5), ReLU.
std::vector<double> opt_reference_logits(const HfCheckpoint& ck, const std::vector<int>& tokens) {
  const json& c = ck.config;
  const int d = c["hidden_size"], heads = c["num_attention_heads"], layers = c["num_hidden_layers"];
  const int e = c["word_embed_proj_dim"], hd = d / heads;
  const bool pre = c["do_layer_norm_before"];
  auto layer_norm = [&](Vec& x, const std::string& stem) {
    const HfTensor &w = ck.at(stem + ".weight"), &b = ck.at(stem + ".bias");
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    var /= double(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * w.v[i] + b.v[i];
  };
  const HfTensor& emb = ck.at("decoder.embed_tokens.weight");
  const HfTensor& pos = ck.at("decoder.embed_positions.weight");
  const int T = int(tokens.size());
  std::vector<std::vector<Vec>> K(static_cast<size_t>(layers)), V(static_cast<size_t>(layers));
  std::vector<double> logits;
  for (int t = 0; t < T; ++t) {
    Vec x(emb.v.begin() + int64_t(tokens[size_t(t)]) * e, emb.v.begin() + int64_t(tokens[size_t(t)] + 1) * e);
    if (ck.has("decoder.project_in.weight")) x = matvec(ck.at("decoder.project_in.weight"), x, nullptr);
    for (int i = 0; i < d; ++i) x[size_t(i)] += pos.v[size_t((t + 2) * d + i)];
    for (int l = 0; l < layers; ++l) {
      const std::string p = fmt::format("decoder.layers.{}.", l);
      auto lin = [&](const std::string& n, const Vec& in) {
        return matvec(ck.at(p + n + ".weight"), in, &ck.at(p + n + ".bias"));
      };
      Vec n = x;
      if (pre) layer_norm(n, p + "self_attn_layer_norm");
      Vec q = lin("self_attn.q_proj", n), k = lin("self_attn.k_proj", n), v = lin("self_attn.v_proj", n);
      for (auto& qq : q) qq *= 1 / std::sqrt(double(hd));
      K[size_t(l)].push_back(k);
      V[size_t(l)].push_back(v);
      Vec att(static_cast<size_t>(d), 0.0);
      for (int h = 0; h < heads; ++h) {
        Vec s(static_cast<size_t>(t + 1));
        double mx = -1e300, sum = 0;
        for (int j = 0; j <= t; ++j) {
          double dot = 0;
          for (int i = 0; i < hd; ++i) dot += q[size_t(h * hd + i)] * K[size_t(l)][size_t(j)][size_t(h * hd + i)];
          mx = std::max(mx, s[size_t(j)] = dot);
        }
        for (auto& x0 : s) sum += (x0 = std::exp(x0 - mx));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < hd; ++i)
            att[size_t(h * hd + i)] += s[size_t(j)] / sum * V[size_t(l)][size_t(j)][size_t(h * hd + i)];
      }
      const Vec o = lin("self_attn.out_proj", att);
      for (int i = 0; i < d; ++i) x[size_t(i)] += o[size_t(i)];
      if (!pre) layer_norm(x, p + "self_attn_layer_norm");
      n = x;
      if (pre) layer_norm(n, p + "final_layer_norm");
      Vec h1 = lin("fc1", n);
      for (auto& v1 : h1) v1 = std::max(v1, 0.0);
      const Vec h2 = lin("fc2", h1);
      for (int i = 0; i < d; ++i) x[size_t(i)] += h2[size_t(i)];
      if (!pre) layer_norm(x, p + "final_layer_norm");
    }
    if (ck.has("decoder.final_layer_norm.weight")) layer_norm(x, "decoder.final_layer_norm");
    if (ck.has("decoder.project_out.weight")) x = matvec(ck.at("decoder.project_out.weight"), x, nullptr);
    const Vec lg = matvec(emb, x, nullptr);  // tied head
    logits.insert(logits.end(), lg.begin(), lg.end());
  }
  return logits;
}

}  // namespace

HfCheckpoint make_hf_checkpoint(const std::string& family_name, uint32_t seed) {
  if (family_name == "opt" || family_name == "opt350m") return make_opt_checkpoint(family_name == "opt350m", seed);
  if (family_name.starts_with("gemma")) return make_gemma_checkpoint(family_name, seed);
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
  if (family_name == "qwen2" || family_name == "qwen3") ck.config["use_sliding_window"] = false;
  if (f.sliding_window) ck.config["sliding_window"] = f.sliding_window;
  RandomTensors add{ck, std::mt19937(seed)};
  const double ws = 0.4 / std::sqrt(double(d));
  add("model.embed_tokens.weight", {vocab, d}, 1.0);
  for (int l = 0; l < layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    add(p + "input_layernorm.weight", {d}, 0.1, 1.0);
    if (f.fused) {
      add(p + "self_attn.qkv_proj.weight", {(heads + 2 * kv) * hd, d}, ws);
    } else {
      add(p + "self_attn.q_proj.weight", {heads * hd, d}, ws);
      add(p + "self_attn.k_proj.weight", {kv * hd, d}, ws);
      add(p + "self_attn.v_proj.weight", {kv * hd, d}, ws);
    }
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
    if (f.fused) {
      add(p + "mlp.gate_up_proj.weight", {2 * hid, d}, ws);
    } else {
      add(p + "mlp.gate_proj.weight", {hid, d}, ws);
      add(p + "mlp.up_proj.weight", {hid, d}, ws);
    }
    add(p + "mlp.down_proj.weight", {d, hid}, 0.4 / std::sqrt(double(hid)));
  }
  add("model.norm.weight", {d}, 0.1, 1.0);
  if (!ck.config["tie_word_embeddings"].get<bool>()) add("lm_head.weight", {vocab, d}, 0.3);
  return ck;
}

std::vector<double> hf_reference_logits(const HfCheckpoint& ck, const std::vector<int>& tokens) {
  const json& c = ck.config;
  if (c["model_type"] == "opt") return opt_reference_logits(ck, tokens);
  if (c["model_type"].get<std::string>().starts_with("gemma")) return gemma_reference_logits(ck, tokens);
  const int d = c["hidden_size"], heads = c["num_attention_heads"], kvh = c["num_key_value_heads"];
  const int layers = c["num_hidden_layers"], vocab = c["vocab_size"];
  const int hd = c.contains("head_dim") ? c["head_dim"].get<int>() : d / heads;
  const double eps = c["rms_norm_eps"], theta = c["rope_theta"];
  const int window = c.value("sliding_window", 0);
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
      Vec q, k, v;
      if (ck.has(p + "self_attn.qkv_proj.weight")) {  // Phi3Attention: rows q | k | v
        const Vec qkv = matvec(ck.at(p + "self_attn.qkv_proj.weight"), n, nullptr);
        q.assign(qkv.begin(), qkv.begin() + heads * hd);
        k.assign(qkv.begin() + heads * hd, qkv.begin() + (heads + kvh) * hd);
        v.assign(qkv.begin() + (heads + kvh) * hd, qkv.end());
      } else {
        q = matvec(ck.at(p + "self_attn.q_proj.weight"), n, opt(p + "self_attn.q_proj.bias"));
        k = matvec(ck.at(p + "self_attn.k_proj.weight"), n, opt(p + "self_attn.k_proj.bias"));
        v = matvec(ck.at(p + "self_attn.v_proj.weight"), n, opt(p + "self_attn.v_proj.bias"));
      }
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
          // Sliding window (Mistral, Phi-3): key j is seen while t - j < window.
          s[size_t(j)] = window > 0 && t - j >= window ? -1e300 : dot / std::sqrt(double(hd));
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
      Vec gate, up;
      if (ck.has(p + "mlp.gate_up_proj.weight")) {  // Phi3MLP: gate, up = gate_up.chunk(2)
        const Vec gu = matvec(ck.at(p + "mlp.gate_up_proj.weight"), n, nullptr);
        gate.assign(gu.begin(), gu.begin() + int64_t(gu.size() / 2));
        up.assign(gu.begin() + int64_t(gu.size() / 2), gu.end());
      } else {
        gate = matvec(ck.at(p + "mlp.gate_proj.weight"), n, nullptr);
        up = matvec(ck.at(p + "mlp.up_proj.weight"), n, nullptr);
      }
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
