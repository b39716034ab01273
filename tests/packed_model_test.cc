// The packed model file: quantize -> pack -> load gives the same model as the
// fake-quantized one (prefill through the GEMM path, decode through the GEMV
// path), for every method and bit mix; damaged or hostile files are refused
// with an error naming the file and the problem.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "calib/dataset.h"
#include "eval/perplexity.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "pack/cpu_target.h"
#include "pack/packed_kernels.h"
#include "pack/packed_linear.h"
#include "pack/packed_model.h"
#include "quant/pipeline.h"
#include "gemv_kernel_scope.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/error.h"

namespace slim {
namespace {

struct Case {
  const char* method;
  int bits, group_size;
  bool qkv_bias = false;
  bool qk_norm = false;  // Qwen3
};

class PackedModelTest : public ::testing::TestWithParam<Case> {};

// Quantizes a tiny model (hidden 44: partial groups) and packs it into `dir`;
// returns the fake-quantized model.
Model quantize_and_pack(const Case& c, const std::string& dir, test::TinySpec spec = {}) {
  spec.hidden = 44;
  if (c.qkv_bias) {
    spec.qkv_bias = true;
    spec.pos = PosKind::RopeHalves;
  }
  if (c.qk_norm) {
    spec.qk_norm = true;
    spec.pos = PosKind::RopeHalves;
  }
  Model m = test::make_tiny_model(spec);
  const CalibWindows calib = sample_windows(test::random_tokens(2000, spec.vocab, 9), 8, 32, 0);
  QuantizeOptions o;
  o.method = c.method;
  o.bits = c.bits;
  o.group_size = c.group_size;
  o.progress = false;
  std::vector<LinearQuantParams> params;
  o.params_out = &params;
  quantize_model(m, &calib, o);
  save_packed_model(m, params, {}, dir);
  return m;
}

std::string describe(const ::testing::TestParamInfo<Case>& i) {
  return fmt::format("{}_b{}_g{}{}", std::string(i.param.method) == "slim+" ? "slimplus" : i.param.method, i.param.bits, i.param.group_size < 0 ? 0 : i.param.group_size,
                     i.param.qkv_bias ? "_bias" : i.param.qk_norm ? "_qknorm" : "");
}

TEST_P(PackedModelTest, SameModelAsFakeQuant) {
  test::TempDir dir;
  const Model fq = quantize_and_pack(GetParam(), dir.path());
  const Model pk = load_packed_model(dir.path());
  ASSERT_TRUE(pk.weights.blocks[0].wq.packed != nullptr);
  const auto tokens = test::random_tokens(24, fq.config.vocab_size, 3);

  // Prefill: all tokens at once.
  const auto a = forward_logits(fq, tokens), b = forward_logits(pk, tokens);
  ASSERT_EQ(a.size(), b.size());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, double(std::fabs(a[i] - b[i])));
    max_abs = std::max(max_abs, double(std::fabs(a[i])));
  }
  EXPECT_LT(max_diff, 1e-4 * max_abs);
  const double nll_fq = sequence_nll(fq, tokens), nll_pk = sequence_nll(pk, tokens);
  EXPECT_LT(std::fabs(nll_fq - nll_pk), 1e-5 * std::fabs(nll_fq));

  // Decode: one token at a time through the KV cache (T = 1 products), by
  // the exact GEMV kernel: the same model up to summation order.
  const int V = fq.config.vocab_size;
  {
    test::GemvKernelScope exact(false);
    Session s(pk, fq.config.max_seq_len);
    for (size_t t = 0; t < tokens.size(); ++t) {
      auto logits = s.step(std::span<const int>(&tokens[t], 1));
      for (int v = 0; v < V; ++v) ASSERT_NEAR(logits[size_t(v)], a[t * size_t(V) + size_t(v)], 1e-4 * max_abs) << t;
    }
  }
  // The int8-table kernel (x86's default: AVX2 and AVX3; elsewhere the same
  // exact kernel) rounds x's subset sums to int8 per group: bench_kernels
  // reports ~1% of a product's largest output as its error. Bound: 1% of the
  // largest logit through this 2-layer model (measured 0.08-0.3% over these
  // cases). Run on each x86 target this CPU has.
  for (const char* target : {"AVX2", "AVX3"}) {
    bool have = false;
    for (int64_t t : pack_detail::compiled_targets()) have |= std::string(hwy::TargetName(t)) == target;
    if (!have) continue;
    select_cpu_target(target);  // names are case-insensitive
    test::GemvKernelScope int8(true);
    Session s(pk, fq.config.max_seq_len);
    double max_d = 0;
    for (size_t t = 0; t < tokens.size(); ++t) {
      auto logits = s.step(std::span<const int>(&tokens[t], 1));
      for (int v = 0; v < V; ++v)
        max_d = std::max(max_d, double(std::fabs(logits[size_t(v)] - a[t * size_t(V) + size_t(v)])));
    }
    EXPECT_LT(max_d, 1e-2 * max_abs) << "int8 decode " << target;
    RecordProperty(std::string("int8_decode_rel_diff_") + target, fmt::format("{:.3g}", max_d / max_abs));
    select_cpu_target("");
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, PackedModelTest,
                         ::testing::Values(Case{"rtn", 1, 16}, Case{"rtn", 2, 16}, Case{"rtn", 3, 32},
                                           Case{"rtn", 4, -1}, Case{"rtn", 8, 16}, Case{"gptq", 3, 16},
                                           Case{"gptq", 2, 32, true}, Case{"slim", 2, 16}, Case{"slim", 3, 16}, Case{"slim+", 2, 16},
                                           Case{"slim+", 3, 16, true},
                                           Case{"slim", 4, 32}, Case{"gptq", 2, 16, false, true},
                                           Case{"slim+", 2, 16, false, true}),
                         describe);

TEST(PackedModel, SlimFileHoldsMixedBitsAndIsSmall) {
  test::TempDir dir;
  quantize_and_pack({"slim", 2, 16}, dir.path());
  const PackedSummary s = summarize_packed_model(load_packed_model(dir.path()));
  EXPECT_EQ(s.metadata.at("format"), kPackedFormat);
  int64_t weighted = 0;
  for (auto [b, n] : s.weights_by_bits) weighted += b * n;
  // SBA moves as many groups down as up: exactly 2.0 code bits on average.
  EXPECT_EQ(weighted, 2 * s.quantized_weights);
  // Codes at 2 bits + per (row, group of 16) an fp16 scale and a zero or mean:
  // a little over 3 bits per weight, far from fp32's 32.
  const double bpw = 8.0 * double(s.packed_bytes) / double(s.quantized_weights);
  EXPECT_GT(bpw, 3.0);
  EXPECT_LT(bpw, 3.6);
}

// A tiny model (hidden 44: partial groups) quantized by RTN at 4 bits, g16.
Model rtn4_model(test::TinySpec spec, std::vector<LinearQuantParams>* params) {
  spec.hidden = 44;
  Model m = test::make_tiny_model(spec);
  QuantizeOptions o;
  o.method = "rtn";
  o.bits = 4;
  o.group_size = 16;
  o.progress = false;
  o.params_out = params;
  quantize_model(m, nullptr, o);
  return m;
}

TEST(PackedModel, PackedHeadIsUsedAndCloseAtEightBits) {
  test::TempDir full, head8;
  test::TinySpec spec;
  spec.tie = false;
  std::vector<LinearQuantParams> params;
  const Model m = rtn4_model(spec, &params);
  save_packed_model(m, params, {}, full.path());
  PackedSaveOptions po;
  po.head_bits = 8;
  po.head_group_size = 16;
  save_packed_model(m, params, po, head8.path());
  const Model a = load_packed_model(full.path()), b = load_packed_model(head8.path());
  EXPECT_EQ(a.weights.lm_head_packed, nullptr);
  ASSERT_NE(b.weights.lm_head_packed, nullptr);
  EXPECT_TRUE(b.weights.lm_head.empty());  // the dense head is not stored
  const auto t = test::random_tokens(16, spec.vocab, 4);
  const double na = sequence_nll(a, t), nb = sequence_nll(b, t);
  EXPECT_NE(na, nb);                          // the packed head is really used
  EXPECT_LT(std::fabs(na - nb), 1e-3 * na);  // and 8 bits are close to full precision
}

TEST(PackedModel, PackedEmbeddingTiedAndUntied) {
  for (bool tie : {true, false}) {
    test::TinySpec spec;
    spec.tie = tie;
    std::vector<LinearQuantParams> params;
    const Model m = rtn4_model(spec, &params);
    test::TempDir dense, packed, again;
    save_packed_model(m, params, {}, dense.path());
    PackedSaveOptions po;
    po.embed_bits = 8;
    po.head_group_size = 16;
    save_packed_model(m, params, po, packed.path());
    const Model a = load_packed_model(dense.path()), b = load_packed_model(packed.path());
    ASSERT_NE(b.weights.tok_embed_packed, nullptr) << tie;
    EXPECT_TRUE(b.weights.tok_embed.empty());
    // Tied: the head reads the packed embedding; untied: the dense head stays.
    EXPECT_EQ(b.weights.lm_head_packed == b.weights.tok_embed_packed, tie);
    const auto t = test::random_tokens(16, spec.vocab, 4);
    const double na = sequence_nll(a, t), nb = sequence_nll(b, t);
    EXPECT_NE(na, nb) << tie;
    EXPECT_LT(std::fabs(na - nb), 2e-3 * na) << tie;
    // Repacking keeps the packed embedding (and a tied head on it) as it is.
    save_packed_model(b, {}, {}, again.path());
    EXPECT_EQ(sequence_nll(load_packed_model(again.path()), t), nb) << tie;
  }
}

TEST(PackedModel, RepackingCopiesLinearsExactly) {
  test::TempDir first, second;
  quantize_and_pack({"slim", 2, 16}, first.path());
  const Model a = load_packed_model(first.path());
  save_packed_model(a, {}, {}, second.path());  // no parameters: the linears are already packed
  const Model b = load_packed_model(second.path());
  const auto t = test::random_tokens(16, a.config.vocab_size, 8);
  EXPECT_EQ(forward_logits(a, t), forward_logits(b, t));
  const auto pa = a.weights.blocks[1].w_down.packed->parts(), pb = b.weights.blocks[1].w_down.packed->parts();
  EXPECT_TRUE(std::equal(pa.codes.begin(), pa.codes.end(), pb.codes.begin(), pb.codes.end()));
  EXPECT_EQ(summarize_packed_model(a).metadata.at("slim.group_size"),
            summarize_packed_model(b).metadata.at("slim.group_size"));
}

TEST(PackedModel, RefusesParametersThatDisagreeWithTheWeights) {
  test::TinySpec spec;
  Model m = test::make_tiny_model(spec);
  QuantizeOptions o;
  o.method = "rtn";
  o.bits = 3;
  o.group_size = 16;
  o.progress = false;
  std::vector<LinearQuantParams> params;
  o.params_out = &params;
  quantize_model(m, nullptr, o);
  m.weights.blocks[1].w_up.w.mutable_data()[5] += 0.01f;  // no longer on the quantization grid
  test::TempDir dir;
  try {
    save_packed_model(m, params, {}, dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1 up_proj"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file(kPackedFileName)));
}

TEST(PackedModel, ActOrderWithoutStaticGroupsCannotBePacked) {
  Model m = test::make_tiny_model();
  const CalibWindows calib = sample_windows(test::random_tokens(2000, 48, 9), 4, 32, 0);
  QuantizeOptions o;
  o.method = "gptq";
  o.act_order = true;
  o.progress = false;
  std::vector<LinearQuantParams> params;
  o.params_out = &params;
  EXPECT_THROW(quantize_model(m, &calib, o), Error);
}

// Rewrites the packed file in `dir` after `edit` changed its tensors or metadata.
struct Mutation {
  std::string name;
  std::function<void(std::vector<TensorToWrite>&, std::vector<std::vector<std::byte>>&,
                     std::map<std::string, std::string>&)>
      edit;
  std::string expect;  // substring of the error
};

class CorruptPackedTest : public ::testing::TestWithParam<int> {};

std::vector<Mutation> mutations() {
  const std::string q = "model.layers.0.self_attn.q_proj";
  auto find = [](std::vector<TensorToWrite>& ts, const std::string& n) -> TensorToWrite& {
    for (auto& t : ts)
      if (t.name == n) return t;
    throw std::runtime_error("no tensor " + n);
  };
  return {
      {"bad bit width",
       [=](auto& ts, auto& store, auto&) {
         auto& t = find(ts, q + ".group_bits");
         store.emplace_back(t.data.begin(), t.data.end());
         store.back()[0] = std::byte{9};
         t.data = store.back();
       },
       "q_proj"},
      {"missing scales", [=](auto& ts, auto&, auto&) { std::erase_if(ts, [&](auto& t) { return t.name == q + ".scales"; }); },
       "missing tensor 'model.layers.0.self_attn.q_proj.scales'"},
      {"scales as U8",
       [=](auto& ts, auto&, auto&) {
         auto& t = find(ts, q + ".scales");
         t.dtype = DType::U8;
         t.shape[1] *= 2;
       },
       "dtype U8, expected F16"},
      {"codes too short",
       [=](auto& ts, auto&, auto&) {
         auto& t = find(ts, q + ".qweight");
         t.shape[1] -= 1;
         t.data = t.data.first(size_t(t.shape[0] * t.shape[1]));
       },
       "q_proj"},
      {"newer version", [](auto&, auto&, auto& meta) { meta["slim.format_version"] = "2"; }, "format version 2"},
      {"not packed", [](auto&, auto&, auto& meta) { meta["format"] = "pt"; }, "not a slim-packed file"},
      {"bad group size", [](auto&, auto&, auto& meta) { meta["slim.group_size"] = "sixteen"; }, "not an integer"},
  };
}

TEST_P(CorruptPackedTest, IsRefusedWithAClearError) {
  const Mutation mu = mutations()[size_t(GetParam())];
  test::TempDir good, bad;
  quantize_and_pack({"slim", 2, 16}, good.path());
  auto f = SafetensorsFile::open(good.file(kPackedFileName));
  std::vector<TensorToWrite> ts;
  for (const auto& t : f->tensors()) ts.push_back({t.name, t.dtype, t.shape, f->data(t)});
  std::vector<std::vector<std::byte>> store;
  store.reserve(4);
  auto meta = f->metadata();
  mu.edit(ts, store, meta);
  write_safetensors(bad.file(kPackedFileName), ts, meta);
  std::filesystem::copy_file(good.file("config.json"), bad.file("config.json"));
  try {
    load_packed_model(bad.path());
    FAIL() << mu.name << ": expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(mu.expect), std::string::npos) << mu.name << ": " << msg;
    EXPECT_NE(msg.find(kPackedFileName), std::string::npos) << mu.name << ": " << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(Mutations, CorruptPackedTest, ::testing::Range(0, 7));

TEST(PackedModel, TruncatedFileIsRefused) {
  test::TempDir dir;
  quantize_and_pack({"rtn", 2, 16}, dir.path());
  const std::string path = dir.file(kPackedFileName);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  try {
    load_packed_model(dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(kPackedFileName), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slim
