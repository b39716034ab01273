#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "calib/dataset.h"
#include "calib/hessian.h"
#include "calib/sequential.h"
#include "eval/perplexity.h"
#include "io/hf_checkpoint.h"
#include "io/model_source.h"
#include "quant/bits.h"
#include "quant/pipeline.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/files.h"

namespace slim {
namespace {

TEST(Calib, WindowsAreSeededAndInRange) {
  auto text = test::random_tokens(1000, 48, 1);
  auto a = sample_windows(text, 16, 50, 0), b = sample_windows(text, 16, 50, 0), c = sample_windows(text, 16, 50, 1);
  EXPECT_EQ(a.starts, b.starts);
  EXPECT_NE(a.starts, c.starts);
  for (size_t i = 0; i < a.starts.size(); ++i) {
    EXPECT_GE(a.starts[i], 0);
    EXPECT_LE(a.starts[i], 1000 - 50 - 1);
    ASSERT_EQ(a.tokens[i].size(), 50u);
    EXPECT_EQ(a.tokens[i][0], text[size_t(a.starts[i])]);
  }
  EXPECT_THROW(sample_windows(text, 4, 1000, 0), Error);  // text too short
  EXPECT_THROW(sample_windows(text, 0, 10, 0), Error);
}

TEST(Calib, HessianMatchesNaiveSum) {
  const int d = 12, T = 30;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  HessianAccumulator acc(d);
  std::vector<double> naive(size_t(d * d), 0.0);
  for (int s = 0; s < 3; ++s) {
    std::vector<float> x(size_t(T * d));
    for (auto& v : x) v = nd(rng);
    acc.add(x.data(), T);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j) naive[size_t(i * d + j)] += double(x[size_t(t * d + i)]) * x[size_t(t * d + j)];
  }
  auto h = acc.hessian();
  EXPECT_EQ(acc.sequences(), 3);
  EXPECT_EQ(acc.tokens(), 90);
  for (int i = 0; i < d * d; ++i) EXPECT_NEAR(h[size_t(i)], 2.0 / 3.0 * naive[size_t(i)], 1e-4) << i;
}

// The packed sum (calib/hessian.h) gives the same H as hessian(), its
// diagonal included, and release() frees it: hessian() is then refused.
TEST(Calib, HessianPackedMatchesSquare) {
  const int d = 13, T = 7;
  std::mt19937 rng(4);
  std::normal_distribution<float> nd;
  HessianAccumulator acc(d), other(5);
  for (int s = 0; s < 2; ++s) {
    std::vector<float> x(size_t(T * d)), y(size_t(T * 5));
    for (auto& v : x) v = nd(rng);
    for (auto& v : y) v = nd(rng);
    acc.add(x.data(), T);
    other.add(y.data(), T);  // shares the batch scratch with acc
    if (s == 0) HessianAccumulator::release_scratch();
  }
  const std::vector<double> h = acc.hessian(), diag = acc.diagonal();
  const dist::SymmetricSlice p = acc.packed();
  ASSERT_EQ(p.packed.size(), size_t(d * (d + 1) / 2));
  EXPECT_EQ(p.begin, 0);
  for (int i = 0; i < d; ++i) {
    EXPECT_EQ(diag[size_t(i)], h[size_t(i * d + i)]);
    for (int j = i; j < d; ++j) EXPECT_EQ(p.scale * p.packed[size_t(dist::packed_upper_index(d, i, j))], h[size_t(i * d + j)]);
  }
  acc.release();
  EXPECT_THROW(acc.hessian(), Error);
  EXPECT_THROW(acc.add(std::vector<float>(size_t(T * d)).data(), T), Error);
  acc.reset(d);
  acc.add(std::vector<float>(size_t(T * d), 1.f).data(), T);
  EXPECT_EQ(acc.hessian()[0], 2.0 * T);
}

TEST(Bits, StorageCountsScalesAndZeros) {
  std::vector<int> g = {4, 4};  // 2 groups of 32 columns, 10 rows
  EXPECT_DOUBLE_EQ(linear_storage_bits(10, 64, 32, g) / 640.0, 4.0 + (16.0 + 4.0) / 32.0);
  std::vector<int> mixed = {1, 3};  // 1-bit groups carry an fp16 mean instead of a zero
  EXPECT_DOUBLE_EQ(linear_storage_bits(1, 64, 32, mixed), 32 + 32 + 96 + 19);
  std::vector<int> partial = {2, 2, 2};  // 172 = 64 + 64 + 44
  EXPECT_DOUBLE_EQ(linear_storage_bits(1, 172, 64, partial), 172 * 2 + 3 * 18);
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec.seq = 64;
    spec.hidden = 44;  // partial groups at group size 16/32
    base = test::make_tiny_model(spec);
    calib = sample_windows(test::random_tokens(2000, spec.vocab, 9), 8, 32, 0);
  }
  Model quantized(const QuantizeOptions& o) {
    Model m = base;
    // Deep-copy the shared weight storage: quantize_model replaces tensors, never writes views.
    quantize_model(m, &calib, o);
    return m;
  }
  test::TinySpec spec;
  Model base;
  CalibWindows calib;
};

TEST_F(PipelineTest, GptqIsByteIdenticalForTheSameSeed) {
  QuantizeOptions o;
  o.method = "gptq";
  o.bits = 3;
  o.group_size = 16;
  o.progress = false;
  Model a = quantized(o), b = quantized(o);
  for (int l = 0; l < spec.layers; ++l) {
    auto la = a.weights.blocks[size_t(l)].linears(), lb = b.weights.blocks[size_t(l)].linears();
    for (size_t i = 0; i < la.size(); ++i)
      ASSERT_EQ(0, std::memcmp(la[i].linear->w.data(), lb[i].linear->w.data(), size_t(la[i].linear->w.numel()) * 4))
          << la[i].name;
  }
  // The base model is untouched (copy-on-write of shared storage).
  EXPECT_NE(0, std::memcmp(base.weights.blocks[0].wq.w.data(), a.weights.blocks[0].wq.w.data(), 4 * 16));
}

TEST_F(PipelineTest, ReportCoversEveryLinear) {
  QuantizeOptions o;
  o.method = "gptq";
  o.bits = 4;
  o.group_size = 32;
  o.progress = false;
  Model m = base;
  auto rep = quantize_model(m, &calib, o);
  ASSERT_EQ(rep["layers"].size(), size_t(7 * spec.layers));
  for (const auto& l : rep["layers"]) {
    EXPECT_TRUE(l.contains("gptq_loss"));
    EXPECT_TRUE(l.contains("damp"));
    EXPECT_GT(l["bits_per_weight"].get<double>(), 4.0);
  }
  EXPECT_EQ(rep["totals"]["damp_retries"].get<int>(), 0);
}

TEST_F(PipelineTest, EightBitIsNearlyLosslessAndFewerBitsDrift) {
  auto eval = test::random_tokens(64, spec.vocab, 77);
  const double fp = sequence_nll(base, eval);
  QuantizeOptions o;
  o.progress = false;
  o.group_size = 16;
  o.method = "gptq";
  o.bits = 8;
  EXPECT_NEAR(sequence_nll(quantized(o), eval), fp, 5e-3);
  // Fewer bits, further from fp32 (mean |ΔNLL| over the calibration windows).
  // GPTQ's strict advantage over RTN is tested per layer in quant_test.cc; on a
  // random tiny model it is not a property of the whole network.
  auto dist = [&](const Model& q) {
    double s = 0;
    for (const auto& w : calib.tokens) s += std::abs(sequence_nll(q, w) - sequence_nll(base, w));
    return s;
  };
  o.bits = 4;
  double d4 = dist(quantized(o));
  o.bits = 2;
  double d2 = dist(quantized(o));
  EXPECT_LT(d4, d2);
}

TEST_F(PipelineTest, CapturesEveryStrideTokenOfEachInputSite) {
  SequentialOptions so;
  so.progress = false;
  so.capture_stride = 3;
  Model m = base;
  int seen = 0;
  run_sequential(
      m, calib,
      [&](LinearJob& job) {
        ASSERT_NE(job.inputs, nullptr);
        EXPECT_EQ(job.inputs->dim, job.linear->in()) << job.name;
        EXPECT_EQ(job.inputs->tokens(), 8 * 11) << job.name;  // 8 windows x ceil(32 / 3)
        EXPECT_EQ(job.hessian->tokens(), 8 * 32);
        ++seen;
      },
      so);
  EXPECT_EQ(seen, 7 * spec.layers);
  so.capture_stride = 0;
  run_sequential(m, calib, [&](LinearJob& job) { EXPECT_EQ(job.inputs, nullptr); }, so);
}

TEST_F(PipelineTest, SlimKeepsAverageBitsAndReusesItsBitmap) {
  QuantizeOptions o;
  o.method = "slim";
  o.bits = 3;
  o.group_size = 8;  // 16- and 44-wide inputs: 2 and 6 groups (the last one partial)
  o.progress = false;
  Model a = base;
  Bitmap map;
  auto rep = quantize_model(a, &calib, o, &map);
  ASSERT_EQ(map.layers.size(), size_t(7 * spec.layers));
  for (const auto& l : map.layers) {
    int64_t weighted = 0;
    for (size_t g = 0; g < l.bits.size(); ++g)
      weighted += int64_t(l.bits[g]) * std::min<int64_t>(8, l.cols - int64_t(g) * 8);
    EXPECT_EQ(weighted, 3 * l.cols) << l.block << " " << l.name;
  }
  // Reusing the saved allocation reproduces the weights exactly.
  test::TempDir dir;
  save_bitmap(dir.file("bitmap.json"), map);
  Bitmap loaded = load_bitmap(dir.file("bitmap.json"));
  o.bitmap = &loaded;
  Model b = base;
  quantize_model(b, &calib, o);
  for (int l = 0; l < spec.layers; ++l) {
    auto la = a.weights.blocks[size_t(l)].linears(), lb = b.weights.blocks[size_t(l)].linears();
    for (size_t i = 0; i < la.size(); ++i)
      ASSERT_EQ(0, std::memcmp(la[i].linear->w.data(), lb[i].linear->w.data(), size_t(la[i].linear->w.numel()) * 4));
  }
  o.bits = 1;
  EXPECT_THROW(quantized(o), Error);  // N-1 would be 0 bits
}

TEST_F(PipelineTest, SlimModelScopeKeepsTheModelTotalExact) {
  QuantizeOptions o;
  o.method = "slim";
  o.bits = 2;
  o.group_size = 8;
  o.progress = false;
  o.sba_max_up = 2;
  for (const char* scope : {"depth", "model"}) {
    o.sba_scope = scope;
    Model a = base;
    Bitmap map;
    quantize_model(a, &calib, o, &map);
    int64_t dev = 0;
    for (const auto& l : map.layers) {
      EXPECT_EQ(l.scope, scope);
      for (size_t g = 0; g < l.bits.size(); ++g)
        dev += l.rows * std::min<int64_t>(8, l.cols - int64_t(g) * 8) * (l.bits[g] - 2);
    }
    EXPECT_EQ(dev, 0) << scope;
    test::TempDir dir;
    save_bitmap(dir.file("bitmap.json"), map);  // validates the v2 invariants
    EXPECT_EQ(load_bitmap(dir.file("bitmap.json")).layers.size(), map.layers.size());
  }
  o.sba_scope = "layer";
  o.faithful = true;  // the faithful mode is the KL search: hessian is refused
  EXPECT_THROW(quantized(o), Error);
  o.sba_criterion = "kl";
  o.sba_max_up = 1;
  o.sqc_p_min = 0.9;
  o.sqc_binary_iters = 0;
  EXPECT_NO_THROW(quantized(o));
}

// Site scope: the linears of one input (q/k/v, gate/up) take one width per
// column group (SBA on the fused matrix Phi-3 stores), so each site, and each
// member, averages exactly N; it is a different allocation from layer scope.
TEST_F(PipelineTest, SlimSiteScopeSharesOneBudgetPerSite) {
  QuantizeOptions o;
  o.method = "slim";
  o.bits = 2;
  o.group_size = 4;  // 4 groups per q/k/v/gate/up row: room to move
  o.progress = false;
  o.sba_criterion = "obs";  // moves more groups than hessian on these random weights
  o.sba_max_up = 2;
  // Salient input columns that differ between q (columns 0-3) and k (12-15):
  // alone each wants its own group up; fused they must agree on one.
  Model src = base;
  for (int l = 0; l < spec.layers; ++l)
    for (auto& r : src.weights.blocks[size_t(l)].linears()) {
      const std::string name = r.name;
      if (name != "q_proj" && name != "k_proj") continue;
      Linear& L = *r.linear;
      std::vector<float> w(L.w.data(), L.w.data() + L.w.numel());
      const int64_t c0 = name == "q_proj" ? 0 : 12;
      for (int64_t row = 0; row < L.out(); ++row)
        for (int64_t c = c0; c < c0 + 4; ++c) w[size_t(row * L.in() + c)] *= 8.f;
      L.w = Tensor::from(std::move(w), L.out(), L.in());
    }
  Bitmap layer_map, site_map;
  Model a = src, b = src;
  quantize_model(a, &calib, o, &layer_map);
  o.sba_scope = "site";
  quantize_model(b, &calib, o, &site_map);
  ASSERT_EQ(site_map.layers.size(), layer_map.layers.size());
  const std::vector<std::vector<std::string>> sites = {{"q_proj", "k_proj", "v_proj"}, {"o_proj"},
                                                       {"gate_proj", "up_proj"}, {"down_proj"}};
  int differ = 0, moved = 0;
  for (int l = 0; l < spec.layers; ++l)
    for (const auto& site : sites) {
      const BitmapLayer* first = site_map.find(l, site[0]);
      ASSERT_NE(first, nullptr) << site[0];
      int64_t dev = 0;
      for (const std::string& name : site) {
        const BitmapLayer& s = *site_map.find(l, name);
        EXPECT_EQ(s.scope, "site");
        EXPECT_EQ(s.bits, first->bits) << "block " << l << " " << name;
        for (size_t g = 0; g < s.bits.size(); ++g) {
          dev += s.rows * std::min<int64_t>(4, s.cols - int64_t(g) * 4) * (s.bits[g] - 2);
          moved += s.bits[g] != 2;
        }
        differ += s.bits != layer_map.find(l, name)->bits;
      }
      EXPECT_EQ(dev, 0) << "block " << l << " " << site[0];
    }
  EXPECT_GT(moved, 0);
  EXPECT_GT(differ, 0) << "site scope allocated exactly as layer scope";
  test::TempDir dir;
  save_bitmap(dir.file("bitmap.json"), site_map);  // validates every layer's exact N
  EXPECT_EQ(load_bitmap(dir.file("bitmap.json")).layers.size(), site_map.layers.size());
  o.sba_criterion = "kl";  // the KL search has no table to share
  EXPECT_THROW(quantized(o), Error);
}

TEST_F(PipelineTest, RejectsBadOptions) {
  QuantizeOptions o;
  o.progress = false;
  o.bits = 9;
  EXPECT_THROW(quantized(o), Error);
  o.bits = 3;
  o.method = "awq";
  EXPECT_THROW(quantized(o), Error);
  o.method = "gptq";
  Model m = base;
  EXPECT_THROW(quantize_model(m, nullptr, o), Error);
}

TEST_F(PipelineTest, NanWeightsAreRefused) {
  Model m = base;
  m.weights.blocks[1].w_up.w.mutable_data()[5] = std::nanf("");
  QuantizeOptions o;
  o.progress = false;
  o.method = "rtn";
  try {
    quantize_model(m, &calib, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("up_proj"), std::string::npos) << e.what();
  }
}

TEST_F(PipelineTest, QuantizedDirectoryRoundTrips) {
  QuantizeOptions o;
  o.progress = false;
  o.method = "rtn";
  o.bits = 3;
  o.group_size = 16;
  Model q = quantized(o);
  test::TempDir dir;
  save_hf_model(q, dir.path());
  Model back = load_model(dir.path());
  auto t = test::random_tokens(20, spec.vocab, 5);
  EXPECT_NEAR(sequence_nll(back, t), sequence_nll(q, t), 1e-5);
}

}  // namespace
}  // namespace slim
