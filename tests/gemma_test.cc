// Gemma-2/3 config.json handling (io/hf_hybrid_config.cc): per-layer attention
// from layer_types or the pattern, the config class defaults for absent keys,
// null soft-caps, the embedding scale's rounding, refusals, and the written
// config reading back the same. The forward pass itself is checked against the
// float64 reference in families_test.cc (Hf/Family.*/gemma2, gemma3).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "hf_reference.h"
#include "io/hf_checkpoint.h"
#include "model/forward.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/files.h"
#include "util/half.h"

namespace slim {
namespace {

using json = nlohmann::json;

// config.json of the tiny checkpoint, edited by `edit`, parsed.
ModelConfig parse_edited(const std::string& family, const std::function<void(json&)>& edit) {
  test::TempDir dir;
  test::HfCheckpoint ck = test::make_hf_checkpoint(family, 3);
  edit(ck.config);
  ck.write(dir.path());
  return parse_hf_config(dir.file("config.json"));
}

std::vector<LayerAttn> L(std::initializer_list<char> s) {
  std::vector<LayerAttn> v;
  for (char ch : s) v.push_back(ch == 'L' ? LayerAttn::Local : LayerAttn::Global);
  return v;
}

TEST(Gemma, LayerPatternsFollowTransformers) {
  // Gemma-2: even layers slide (layer_types default "sliding_attention" if (i + 1) % 2).
  const ModelConfig g2 = parse_edited("gemma2", [](json&) {});
  EXPECT_EQ(g2.layer_attn, L({'L', 'G', 'L'}));
  EXPECT_EQ(g2.window(0), 8);
  EXPECT_EQ(g2.window(1), 0);
  EXPECT_FALSE(g2.local_rope(0));  // one RoPE table for every Gemma-2 layer
  // Gemma-3: sliding_window_pattern 3 -> layer 2 global; default pattern 6 -> all four slide.
  const ModelConfig g3 = parse_edited("gemma3", [](json&) {});
  EXPECT_EQ(g3.layer_attn, L({'L', 'L', 'G', 'L'}));
  EXPECT_TRUE(g3.local_rope(0));
  EXPECT_FALSE(g3.local_rope(2));
  EXPECT_EQ(g3.rope_local_theta, 10000.f);
  EXPECT_EQ(parse_edited("gemma3", [](json& c) { c.erase("sliding_window_pattern"); }).layer_attn,
            L({'L', 'L', 'L', 'L'}));
  // layer_types wins over the pattern.
  const ModelConfig lt = parse_edited("gemma3", [](json& c) {
    c["layer_types"] = {"full_attention", "sliding_attention", "full_attention", "full_attention"};
  });
  EXPECT_EQ(lt.layer_attn, L({'G', 'L', 'G', 'G'}));
}

TEST(Gemma, LayerTypesDriveTheForwardPass) {
  // A layer_types list unlike either pattern: production and reference must still agree.
  test::TempDir dir;
  test::HfCheckpoint ck = test::make_hf_checkpoint("gemma3", 7);
  ck.config["layer_types"] = {"full_attention", "sliding_attention", "full_attention", "sliding_attention"};
  ck.write(dir.path());
  const Model m = load_hf_model(dir.path());
  const std::vector<int> tokens = test::random_tokens(30, 64, 4);
  const auto ref = test::hf_reference_logits(ck, tokens);
  const auto got = forward_logits(m, tokens);
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(ref[i] - got[i]));
    max_abs = std::max(max_abs, std::fabs(ref[i]));
  }
  EXPECT_LT(max_diff, 1e-5 * max_abs);
  // ... and differ from the pattern's layers (so the list was not ignored).
  ck.config.erase("layer_types");
  const auto pattern = test::hf_reference_logits(ck, tokens);
  double moved = 0;
  for (size_t i = 0; i < ref.size(); ++i) moved = std::max(moved, std::fabs(pattern[i] - got[i]));
  EXPECT_GT(moved, 1e-3 * max_abs);
}

TEST(Gemma, AbsentKeysTakeTheConfigClassDefaults) {
  const char* keys[] = {"attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar",
                        "sliding_window", "head_dim", "rope_theta", "rms_norm_eps", "hidden_activation",
                        "rope_local_base_freq"};
  auto strip = [&](json& c) {
    for (const char* k : keys) c.erase(k);
  };
  const ModelConfig g2 = parse_edited("gemma2", strip);
  EXPECT_EQ(g2.attn_softcap, 50.f);
  EXPECT_EQ(g2.final_softcap, 30.f);
  EXPECT_EQ(g2.attn_scalar, 256.f);
  EXPECT_EQ(g2.sliding_window, 4096);
  EXPECT_EQ(g2.head_dim, 256);
  EXPECT_EQ(g2.rope_theta, 10000.f);
  EXPECT_EQ(g2.norm_eps, 1e-6f);
  EXPECT_EQ(g2.mlp, MlpKind::GeGLU);
  EXPECT_TRUE(g2.tie_embeddings);
  const ModelConfig g3 = parse_edited("gemma3", strip);
  EXPECT_EQ(g3.attn_softcap, 0.f);
  EXPECT_EQ(g3.final_softcap, 0.f);
  EXPECT_EQ(g3.rope_theta, 1e6f);
  EXPECT_EQ(g3.rope_local_theta, 10000.f);
  // null: no soft-capping.
  const ModelConfig nulls = parse_edited("gemma2", [](json& c) {
    c["attn_logit_softcapping"] = nullptr;
    c["final_logit_softcapping"] = nullptr;
  });
  EXPECT_EQ(nulls.attn_softcap, 0.f);
  EXPECT_EQ(nulls.final_softcap, 0.f);
}

TEST(Gemma, EmbeddingScaleIsRoundedToTheRunDtype) {
  const float exact = std::sqrt(24.f);
  EXPECT_EQ(parse_edited("gemma2", [](json&) {}).embed_scale, 4.90625f);  // bf16(4.899)
  EXPECT_EQ(parse_edited("gemma2", [](json& c) { c["torch_dtype"] = "float32"; }).embed_scale, exact);
  EXPECT_EQ(parse_edited("gemma2", [](json& c) { c.erase("torch_dtype"); c["dtype"] = "float16"; }).embed_scale,
            f16_to_f32(f32_to_f16(exact)));
  EXPECT_EQ(parse_edited("gemma2", [](json& c) { c["slim_embed_scale"] = 4.5; }).embed_scale, 4.5f);
  test::expect_error([] { parse_edited("gemma2", [](json& c) { c["torch_dtype"] = "int8"; }); },
                     {"config.json", "torch_dtype", "int8"});
}

TEST(Gemma, UnsupportedValuesAreRefused) {
  test::expect_error([] { parse_edited("gemma3", [](json& c) { c["attn_logit_softcapping"] = 50.0; }); },
                     {"config.json", "attn_logit_softcapping", "does not apply"});
  test::expect_error([] { parse_edited("gemma2", [](json& c) { c["layer_types"] = {"full_attention"}; }); },
                     {"config.json", "layer_types", "3 layers"});
  test::expect_error(
      [] {
        parse_edited("gemma2", [](json& c) {
          c["layer_types"] = {"full_attention", "chunked_attention", "full_attention"};
        });
      },
      {"config.json", "layer_types'[1]", "chunked_attention"});
  test::expect_error([] { parse_edited("gemma2", [](json& c) { c["sliding_window"] = nullptr; }); },
                     {"config.json", "sliding_window", "layer 0"});
  test::expect_error([] { parse_edited("gemma2", [](json& c) { c["hidden_activation"] = "gelu"; }); },
                     {"config.json", "hidden_activation", "gelu_pytorch_tanh"});
  test::expect_error([] { parse_edited("gemma2", [](json& c) { c["query_pre_attn_scalar"] = "256"; }); },
                     {"config.json", "query_pre_attn_scalar"});
  test::expect_error([] { parse_edited("gemma2", [](json& c) { c["final_logit_softcapping"] = -1; }); },
                     {"config.json", "final_logit_softcapping"});
  test::expect_error([] { parse_edited("gemma2", [](json& c) { c["attention_bias"] = true; }); },
                     {"config.json", "attention_bias"});
  test::expect_error([] { parse_edited("gemma3", [](json& c) { c["use_bidirectional_attention"] = true; }); },
                     {"config.json", "use_bidirectional_attention"});
  test::expect_error(
      [] {
        parse_edited("gemma3", [](json& c) {
          c["architectures"] = {"Gemma3ForConditionalGeneration"};
          c["model_type"] = "gemma3";
        });
      },
      {"config.json", "Gemma3ForConditionalGeneration", "multimodal", "Gemma3ForCausalLM"});
}

TEST(Gemma, WrittenConfigReadsBackTheSame) {
  for (const char* family : {"gemma2", "gemma3"}) {
    const ModelConfig a = parse_edited(family, [](json& c) {
      if (c["model_type"] == "gemma3_text")
        c["layer_types"] = {"sliding_attention", "full_attention", "full_attention", "sliding_attention"};
    });
    test::TempDir dir;
    for (DType dt : {DType::F32, DType::BF16}) {
      write_file_atomic(dir.file("config.json"), hf_config_json(a, dt).dump(2));
      const ModelConfig b = parse_hf_config(dir.file("config.json"));
      EXPECT_EQ(b.arch, a.arch);
      EXPECT_EQ(b.layer_attn, a.layer_attn) << family;
      EXPECT_EQ(b.sliding_window, a.sliding_window);
      EXPECT_EQ(b.rope_local_theta, a.rope_local_theta);
      EXPECT_EQ(b.rope_theta, a.rope_theta);
      EXPECT_EQ(b.rope_scaling.type, a.rope_scaling.type);
      EXPECT_EQ(b.attn_scalar, a.attn_scalar);
      EXPECT_EQ(b.attn_softcap, a.attn_softcap);
      EXPECT_EQ(b.final_softcap, a.final_softcap);
      EXPECT_EQ(b.embed_scale, a.embed_scale) << "an f32 copy keeps the bf16 model's factor";
      EXPECT_EQ(b.head_dim, a.head_dim);
      EXPECT_EQ(b.norm, a.norm);
      EXPECT_EQ(b.mlp, a.mlp);
      EXPECT_EQ(b.sandwich_norm, a.sandwich_norm);
      EXPECT_EQ(b.qk_norm, a.qk_norm);
      EXPECT_EQ(b.tie_embeddings, a.tie_embeddings);
    }
  }
}

}  // namespace
}  // namespace slim
