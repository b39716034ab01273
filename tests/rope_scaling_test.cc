// RoPE scaling (issue 13): each rope_scaling type against values worked out
// by hand from the transformers formulas (modeling_rope_utils.py) for the
// configs real checkpoints ship, the table the forward pass reads, and the
// config.json round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/hf_checkpoint.h"
#include "io/hf_rope_scaling.h"
#include "model/forward.h"
#include "model/ops.h"
#include "model/rope_scaling.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/files.h"

namespace slim {
namespace {

using nlohmann::json;
using test::expect_error;

double plain(double theta, int d, int i) { return std::pow(theta, -2.0 * i / d); }

TEST(RopeScaling, NoneIsThePlainTable) {
  const auto f = rope_frequencies(10000, 64, {}, 2048, 2048);
  ASSERT_EQ(f.inv_freq.size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_DOUBLE_EQ(f.inv_freq[size_t(i)], plain(10000, 64, i));
  EXPECT_EQ(f.attention_scale, 1.0);
}

TEST(RopeScaling, LinearDividesEveryFrequency) {
  RopeScaling s;
  s.type = RopeScalingType::Linear;
  s.factor = 4;
  const auto f = rope_frequencies(10000, 64, s, 2048, 2048);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(f.inv_freq[size_t(i)], plain(10000, 64, i) / 4, 1e-15);
}

// LLaMA-3.1-8B: theta 500000, head_dim 128, factor 8, low 1, high 4, original 8192.
TEST(RopeScaling, Llama3KeepsHighFrequenciesInterpolatesLowBlendsTheMiddle) {
  RopeScaling s;
  s.type = RopeScalingType::Llama3;
  s.factor = 8;
  s.low_freq_factor = 1;
  s.high_freq_factor = 4;
  s.original_max_pos = 8192;
  const auto f = rope_frequencies(500000, 128, s, 131072, 4096);
  // Wavelength 2*pi*500000^(i/64) < 2048 up to i = 28; > 8192 from i = 36.
  for (int i = 0; i <= 28; ++i) EXPECT_DOUBLE_EQ(f.inv_freq[size_t(i)], plain(500000, 128, i)) << i;
  for (int i = 36; i < 64; ++i) EXPECT_NEAR(f.inv_freq[size_t(i)] / plain(500000, 128, i), 1.0 / 8, 1e-12) << i;
  // i = 32: wavelength 2*pi*sqrt(500000) = 4442.883, smooth = (8192/4442.883 - 1)/3 = 0.281282;
  // scaled = f * ((1 - smooth)/8 + smooth) = f * 0.371122.
  EXPECT_NEAR(f.inv_freq[32] / plain(500000, 128, 32), 0.371122, 1e-6);
  EXPECT_EQ(f.attention_scale, 1.0);
}

// Qwen2.5/Qwen3 long context: theta 1e6, head_dim 128, factor 4, original 32768.
TEST(RopeScaling, YarnRampsBetweenTheCorrectionDimsAndScalesAttention) {
  RopeScaling s;
  s.type = RopeScalingType::Yarn;
  s.factor = 4;
  s.original_max_pos = 32768;
  const auto f = rope_frequencies(1e6, 128, s, 131072, 4096);
  // Correction dims: 128 ln(32768/(32*2pi)) / (2 ln 1e6) = 23.60 -> 23; with 1 rotation 39.65 -> 40.
  for (int i = 0; i <= 23; ++i) EXPECT_NEAR(f.inv_freq[size_t(i)] / plain(1e6, 128, i), 1.0, 1e-12) << i;
  for (int i = 40; i < 64; ++i) EXPECT_NEAR(f.inv_freq[size_t(i)] / plain(1e6, 128, i), 0.25, 1e-12) << i;
  // i = 30: ramp (30-23)/17 = 0.411765; f * (0.25 * ramp + (1 - ramp)) = f * 0.691176.
  EXPECT_NEAR(f.inv_freq[30] / plain(1e6, 128, 30), 0.691176, 1e-6);
  EXPECT_NEAR(f.attention_scale, 0.1 * std::log(4.0) + 1, 1e-12);  // 1.138629
  s.mscale = 1;  // DeepSeek-style mscale / mscale_all_dim: equal, so the ratio is 1
  s.mscale_all_dim = 1;
  EXPECT_NEAR(rope_frequencies(1e6, 128, s, 131072, 4096).attention_scale, 1.0, 1e-12);
  s.attention_factor = 0.75;  // explicit: wins
  EXPECT_EQ(rope_frequencies(1e6, 128, s, 131072, 4096).attention_scale, 0.75);
}

TEST(RopeScaling, DynamicChangesNothingInsideTheTrainedContext) {
  RopeScaling s;
  s.type = RopeScalingType::Dynamic;
  s.factor = 2;
  auto f = rope_frequencies(10000, 64, s, 2048, 2048);
  for (int i = 0; i < 32; ++i) EXPECT_DOUBLE_EQ(f.inv_freq[size_t(i)], plain(10000, 64, i));
  // 4096 tokens: base 10000 * (2*4096/2048 - 1)^(64/62) = 10000 * 3^(32/31).
  f = rope_frequencies(10000, 64, s, 2048, 4096);
  const double base = 10000 * std::pow(3.0, 64.0 / 62);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(f.inv_freq[size_t(i)] / plain(base, 64, i), 1.0, 1e-12);
}

TEST(RopeScaling, TableCarriesTheScaledAnglesAndAttentionFactor) {
  ModelConfig c = test::make_tiny_model().config;
  c.rope_scaling.type = RopeScalingType::Yarn;
  c.rope_scaling.factor = 4;
  c.rope_scaling.original_max_pos = 16;
  RopeTable t;
  t.build(c, 32);
  const auto f = rope_frequencies(c.rope_theta, c.head_dim, c.rope_scaling, c.max_seq_len, 32);
  for (int p = 0; p < 32; ++p)
    for (int i = 0; i < t.half; ++i) {
      EXPECT_NEAR(t.cos[size_t(p * t.half + i)], std::cos(p * f.inv_freq[size_t(i)]) * f.attention_scale, 1e-6);
      EXPECT_NEAR(t.sin[size_t(p * t.half + i)], std::sin(p * f.inv_freq[size_t(i)]) * f.attention_scale, 1e-6);
    }
}

// A LLaMA-3.1-style config.json: parsed, applied by the forward pass (which
// then differs from the unscaled model) and written back unchanged.
TEST(RopeScaling, HfConfigRoundTripAndForward) {
  test::TinySpec spec;
  spec.pos = PosKind::RopeHalves;
  spec.dim = 32;
  spec.heads = 2;
  spec.kv_heads = 1;
  Model m = test::make_tiny_model(spec);
  test::TempDir dir;
  save_hf_model(m, dir.path());
  json cfg = json::parse(read_file(dir.file("config.json")));
  cfg["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8}};
  std::ofstream(dir.file("config.json"), std::ios::binary) << cfg.dump();
  Model scaled = load_hf_model(dir.path());
  EXPECT_EQ(scaled.config.rope_scaling.type, RopeScalingType::Llama3);
  EXPECT_EQ(scaled.config.rope_scaling.original_max_pos, 8);
  EXPECT_EQ(hf_config_json(scaled.config, DType::F32)["rope_scaling"], json::parse(R"({"rope_type":"llama3",
      "factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8})"));
  const std::vector<int> toks = {1, 5, 9, 3, 7, 11, 2, 4, 6, 8, 10, 12};
  const auto a = forward_logits(m, toks), b = forward_logits(scaled, toks);
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, double(std::fabs(a[i] - b[i])));
  EXPECT_GT(diff, 1e-3) << "rope_scaling had no effect on the logits";
}

TEST(RopeScaling, BadObjectsAreRefusedNamingTheField) {
  expect_error([] { parse_rope_scaling(json{{"rope_type", "longrope"}, {"factor", 2}}, "c.json"); },
               {"c.json", "longrope", "not supported"});
  expect_error([] { parse_rope_scaling(json{{"rope_type", "linear"}}, "c.json"); }, {"c.json", "factor"});
  expect_error([] { parse_rope_scaling(json{{"rope_type", "linear"}, {"factor", -2}}, "c.json"); },
               {"c.json", "factor"});
  expect_error([] { parse_rope_scaling(json{{"rope_type", "llama3"}, {"factor", 8}}, "c.json"); },
               {"c.json", "original_max_position_embeddings"});
  expect_error([] { parse_rope_scaling(json{{"type", "yarn"}, {"factor", 4}, {"truncate", 1}}, "c.json"); },
               {"c.json", "truncate"});
  EXPECT_EQ(parse_rope_scaling(json{{"type", "default"}}, "c.json").type, RopeScalingType::None);
  EXPECT_EQ(parse_rope_scaling(nullptr, "c.json").type, RopeScalingType::None);
}

}  // namespace
}  // namespace slim
