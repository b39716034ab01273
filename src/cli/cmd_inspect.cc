// slim inspect: architecture, shapes, parameter count and bytes of a model.
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/model_source.h"
#include "pack/packed_linear.h"
#include "pack/packed_model.h"

namespace slim::cli {

namespace {
struct InspectArgs {
  ModelArgs model;
  std::string json;
};

const char* pos_name(PosKind p) {
  return p == PosKind::RopeHalves ? "rope (halves, HF)" : p == PosKind::RopeInterleaved ? "rope (interleaved pairs)" : "learned";
}

const char* norm_name(NormKind n) {
  return n == NormKind::LayerNorm ? "LayerNorm" : n == NormKind::RMSNormPlusOne ? "RMSNorm (1+w)" : "RMSNorm";
}
const char* mlp_name(MlpKind m) { return m == MlpKind::SwiGLU ? "SwiGLU" : m == MlpKind::GeGLU ? "GeGLU (tanh)" : "ReLU"; }

// Gemma-2/3 extras: per-layer windows, local RoPE base, scalar, soft-caps, embedding scale ("" for other models).
std::string hybrid_summary(const ModelConfig& c) {
  std::string s;
  if (c.sandwich_norm) s += ", sandwich norms";
  if (!c.layer_attn.empty()) {
    int local = 0;
    for (int l = 0; l < c.n_layers; ++l) local += c.is_local(l);
    s += fmt::format(", {} of {} layers sliding", local, c.n_layers);
  }
  if (c.rope_local_theta > 0) s += fmt::format(" (local theta {:g})", c.rope_local_theta);
  if (c.attn_scalar > 0) s += fmt::format(", attention scale {:g}^-1/2", c.attn_scalar);
  if (c.attn_softcap > 0) s += fmt::format(", attention soft-cap {:g}", c.attn_softcap);
  if (c.final_softcap > 0) s += fmt::format(", logit soft-cap {:g}", c.final_softcap);
  if (c.embed_scale != 1) s += fmt::format(", embeddings x{:g}", c.embed_scale);
  return s;
}

int64_t disk_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return int64_t(fs::file_size(path, ec));
  int64_t total = 0;
  for (auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file()) total += int64_t(e.file_size());
  return total;
}

void run(const InspectArgs& a) {
  if (options_only()) return;
  LoadedModel lm = open_model(a.model.model, a.model.tokenizer, /*need_tokenizer=*/false);
  const ModelConfig& c = lm.model.config;
  std::unique_ptr<Tokenizer> tok;
  std::string tok_err;
  try {
    tok = load_model_tokenizer(lm.paths, c);
  } catch (const std::exception& e) {
    tok_err = e.what();
  }
  nlohmann::json tensors = nlohmann::json::array();
  auto add = [&](const std::string& name, const Tensor& t) {
    tensors.push_back({{"name", name}, {"shape", {t.rows(), t.cols()}}, {"dtype", elem_type_name(t.type())}, {"mapped", t.is_view()}});
  };
  auto add_linear = [&](const std::string& name, const Linear& L) {
    if (!L.packed) return add(name, L.w);
    const double bpw = 8.0 * double(L.packed->packed_bytes()) / double(L.out() * L.in());
    tensors.push_back({{"name", name}, {"shape", {L.out(), L.in()}}, {"mapped", true}, {"packed_bits_per_weight", bpw}});
  };
  const auto& w = lm.model.weights;
  if (w.tok_embed_packed)
    add_linear("tok_embed", Linear{{}, {}, w.tok_embed_packed});
  else
    add("tok_embed", w.tok_embed);
  for (size_t l = 0; l < w.blocks.size(); ++l) {
    auto b = w.blocks[l];  // copy of views: linears() needs a mutable object
    add(fmt::format("layers.{}.attn_norm", l), b.attn_norm);
    for (auto& r : b.linears()) add_linear(fmt::format("layers.{}.{}", l, r.name), *r.linear);
    add(fmt::format("layers.{}.ffn_norm", l), b.ffn_norm);
    if (!b.attn_post_norm.empty()) add(fmt::format("layers.{}.attn_post_norm", l), b.attn_post_norm);
    if (!b.ffn_post_norm.empty()) add(fmt::format("layers.{}.ffn_post_norm", l), b.ffn_post_norm);
  }
  if (!w.pos_embed.empty()) add("pos_embed", w.pos_embed);
  if (!w.final_norm.empty()) add("final_norm", w.final_norm);
  if (w.lm_head_packed && w.lm_head_packed != w.tok_embed_packed)
    add_linear("lm_head", Linear{{}, {}, w.lm_head_packed});
  else if (!c.tie_embeddings)
    add("lm_head", w.lm_head);

  nlohmann::json j = {
      {"path", lm.paths.model_path},
      {"format", lm.model.format},
      {"architecture", c.arch},
      {"source_dtype", lm.model.source_dtype},
      {"dim", c.dim},
      {"hidden_dim", c.hidden_dim},
      {"n_layers", c.n_layers},
      {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_seq_len", c.max_seq_len},
      {"norm_eps", c.norm_eps},
      {"rope_theta", c.rope_theta},
      {"rope_scaling", rope_scaling_name(c.rope_scaling.type)},
      {"position", pos_name(c.pos)},
      {"qkv_bias", c.qkv_bias},
      {"norm", c.norm == NormKind::LayerNorm ? "layernorm" : c.norm == NormKind::RMSNormPlusOne ? "rmsnorm_plus_one" : "rmsnorm"},
      {"mlp", c.mlp == MlpKind::SwiGLU ? "swiglu" : c.mlp == MlpKind::GeGLU ? "geglu_tanh" : "relu"},
      {"all_bias", c.all_bias},
      {"qk_norm", c.qk_norm},
      {"sliding_window", c.sliding_window},
      {"sandwich_norm", c.sandwich_norm},
      {"attn_scalar", c.attn_scalar},
      {"attn_softcap", c.attn_softcap},
      {"final_softcap", c.final_softcap},
      {"embed_scale", c.embed_scale},
      {"rope_local_theta", c.rope_local_theta},
      {"sliding_layers", [&] {
         nlohmann::json a = nlohmann::json::array();
         for (int l = 0; l < c.n_layers; ++l)
           if (c.window(l) > 0) a.push_back(l);
         return a;
       }()},
      {"tie_embeddings", c.tie_embeddings},
      {"parameters", c.n_params()},
      {"fp32_bytes", c.n_params() * 4},
      {"file_bytes", disk_bytes(lm.paths.model_path)},
      {"tensors", tensors},
  };
  if (lm.model.format == kPackedFormat) {
    const PackedSummary s = summarize_packed_model(lm.model);
    nlohmann::json by_bits = nlohmann::json::object();
    for (auto [b, n] : s.weights_by_bits) by_bits[std::to_string(b)] = n;
    j["packed"] = {{"quantized_weights", s.quantized_weights},
                   {"weights_by_bits", by_bits},
                   {"linear_bytes", s.packed_bytes},
                   {"linear_bits_per_weight", 8.0 * double(s.packed_bytes) / double(s.quantized_weights)},
                   {"other_bytes", s.other_bytes},
                   {"file_bits_per_parameter", 8.0 * double(s.file_bytes) / double(c.n_params())},
                   {"metadata", s.metadata}};
  }
  if (tok)
    j["tokenizer"] = {{"kind", tok->kind()}, {"vocab_size", tok->vocab_size()}, {"bos_id", tok->bos_id()},
                      {"eos_id", tok->eos_id()}};
  else
    j["tokenizer"] = {{"error", tok_err}};

  fmt::print("model        {}\n", lm.paths.model_path);
  fmt::print("format       {} ({}), architecture {}\n", lm.model.format, lm.model.source_dtype, c.arch);
  fmt::print("dims         dim {}, ffn {}, layers {}, heads {} (kv {}, head_dim {}), vocab {}, context {}\n", c.dim,
             c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.vocab_size, c.max_seq_len);
  const std::string rope =
      c.pos == PosKind::Learned ? std::string(pos_name(c.pos))
      : fmt::format("{}, theta {:g}{}", pos_name(c.pos), c.rope_theta,
                    c.rope_scaling.type == RopeScalingType::None
                        ? ""
                        : fmt::format(" ({} scaling x{:g})", rope_scaling_name(c.rope_scaling.type),
                                      c.rope_scaling.factor));
  fmt::print("blocks       {}{} eps {:g}, {}, {}{}{}{}{}{}{}\n", norm_name(c.norm),
             c.norm_before ? "" : " (post-norm)", c.norm_eps, rope, mlp_name(c.mlp),
             c.all_bias ? ", biases" : c.qkv_bias ? ", q/k/v bias" : "", c.qk_norm ? ", q/k norm" : "",
             c.tie_embeddings ? ", tied embeddings" : "",
             c.sliding_window ? fmt::format(", sliding window {}", c.sliding_window) : "",
             c.embed_dim ? fmt::format(", embedding width {}", c.embed_dim) : "", hybrid_summary(c));
  fmt::print("parameters   {} ({:.3f} M), fp32 {:.2f} MiB, on disk {:.2f} MiB\n", c.n_params(), c.n_params() / 1e6,
             c.n_params() * 4 / 1048576.0, j["file_bytes"].get<int64_t>() / 1048576.0);
  if (j.contains("packed")) {
    const auto& p = j["packed"];
    std::string mix;
    for (auto& [b, n] : p["weights_by_bits"].items())
      mix += fmt::format("{}{}-bit {:.1f}%", mix.empty() ? "" : ", ", b,
                         100.0 * n.get<double>() / p["quantized_weights"].get<double>());
    const auto& md = p["metadata"];
    auto get = [&](const char* k) { return md.contains(k) ? md[k].get<std::string>() : std::string("?"); };
    fmt::print("packed       {} v{}, method {}, {} bits, group {}; weights {}\n", kPackedFormat,
               get("slim.format_version"), get("slim.method"), get("slim.bits"), get("slim.group_size"), mix);
    fmt::print("             linears {:.2f} MiB ({:.3f} bits/weight with scales, zeros, offsets), rest {:.2f} MiB, "
               "whole file {:.3f} bits/parameter\n",
               p["linear_bytes"].get<double>() / 1048576.0, p["linear_bits_per_weight"].get<double>(),
               p["other_bytes"].get<double>() / 1048576.0, p["file_bits_per_parameter"].get<double>());
  }
  if (tok)
    fmt::print("tokenizer    {} (vocab {}, bos {}, eos {})\n", tok->kind(), tok->vocab_size(), tok->bos_id(),
               tok->eos_id());
  else
    fmt::print("tokenizer    not loaded: {}\n", tok_err);
  fmt::print("\n{:<32} {:>16}  {}\n", "tensor", "shape", "storage");
  for (auto& t : tensors)
    fmt::print("{:<32} {:>16}  {}\n", t["name"].get<std::string>(),
               fmt::format("{} x {}", t["shape"][0].get<int64_t>(), t["shape"][1].get<int64_t>()),
               t.contains("packed_bits_per_weight")
                   ? fmt::format("packed {:.3f} bits/weight", t["packed_bits_per_weight"].get<double>())
                   : t["mapped"].get<bool>() ? "mapped" : "converted");
  write_json(a.json, j);
}
}  // namespace

void add_inspect(CLI::App& app) {
  auto a = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand("inspect", "architecture, shapes, parameter count and bytes of a model");
  add_model_options(cmd, a->model);
  cmd->add_option("--json", a->json, "also write the facts as JSON to this file");
  cmd->callback([a] { run(*a); });
}

}  // namespace slim::cli
