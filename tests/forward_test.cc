#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include <omp.h>

#include "io/hf_checkpoint.h"
#include "io/llama2c_checkpoint.h"
#include "io/model_source.h"
#include "model/forward.h"
#include "model/ops.h"
#include "reference_forward.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/fast_exp.h"

namespace slim {
namespace {

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(Forward, MatchesNaiveReferenceInterleaved) {
  Model m = test::make_tiny_model();
  auto tok = test::random_tokens(40, m.config.vocab_size, 7);
  EXPECT_LT(max_abs_diff(forward_logits(m, tok), test::reference_logits(m, tok)), 2e-4f);
}

TEST(Forward, MatchesNaiveReferenceHalvesWithBiasAndUntiedHead) {
  test::TinySpec s;
  s.pos = PosKind::RopeHalves;
  s.qkv_bias = true;
  s.tie = false;
  s.heads = 4;
  s.kv_heads = 1;  // maximal grouping
  Model m = test::make_tiny_model(s);
  auto tok = test::random_tokens(33, m.config.vocab_size, 8);
  EXPECT_LT(max_abs_diff(forward_logits(m, tok), test::reference_logits(m, tok)), 2e-4f);
}

TEST(Forward, MatchesNaiveReferenceQwen3QkNorm) {
  test::TinySpec s;
  s.qk_norm = true;
  s.pos = PosKind::RopeHalves;
  s.dim = 24;
  s.heads = 2;  // head_dim 12 with q/k norms of 12
  s.kv_heads = 1;
  Model m = test::make_tiny_model(s);
  auto tok = test::random_tokens(30, m.config.vocab_size, 11);
  const auto ref = test::reference_logits(m, tok);
  EXPECT_LT(max_abs_diff(forward_logits(m, tok), ref), 2e-4f);
  Model no_norm = m;  // the norms matter: without them the logits move
  no_norm.config.qk_norm = false;
  EXPECT_GT(max_abs_diff(forward_logits(no_norm, tok), ref), 1e-3f);
}

TEST(Forward, LongSequenceSpansSeveralAttentionRowBlocks) {
  test::TinySpec s;
  s.seq = 200;
  Model m = test::make_tiny_model(s);
  auto tok = test::random_tokens(150, m.config.vocab_size, 9);  // > 2 row blocks of 64
  EXPECT_LT(max_abs_diff(forward_logits(m, tok), test::reference_logits(m, tok)), 3e-4f);
}

// Decode attention's softmax_fast against softmax (std::exp, fp64 sum) on
// long rows with a wide spread of scores (some underflow to 0).
TEST(Forward, FastSoftmaxMatchesSoftmax) {
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.f, 8.f);
  for (int n : {1, 7, 100, 2048}) {
    std::vector<float> a(static_cast<size_t>(n)), b;
    for (auto& v : a) v = nd(rng);
    a[0] = -200.f;
    b = a;
    softmax(a.data(), n);
    softmax_fast(b.data(), n);
    for (int i = 0; i < n; ++i) ASSERT_NEAR(b[size_t(i)], a[size_t(i)], 2e-5f * a[size_t(i)] + 1e-30f) << n << " " << i;
  }
}

// A NaN or infinite score (a model with a non-finite weight) comes out of
// softmax_fast as NaN, without undefined float-to-int conversion inside
// fast_exp (the sanitizer suite fails on that; found by fuzz_packed_model).
TEST(Forward, FastSoftmaxPropagatesNonFiniteScores) {
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = {0.5f, bad, -1.f, 2.f};
    softmax_fast(x.data(), int(x.size()));
    if (bad == -std::numeric_limits<float>::infinity()) {
      EXPECT_LT(x[1], 1e-30f);  // -inf is a masked score: weight ~0, the rest still sum to 1
      EXPECT_NEAR(x[0] + x[2] + x[3], 1.f, 1e-6f);
    } else {
      bool any_nan = false;
      for (float v : x) any_nan |= std::isnan(v);
      EXPECT_TRUE(any_nan) << bad;
    }
  }
  EXPECT_TRUE(std::isnan(fast_exp(std::nanf(""))));
  EXPECT_FLOAT_EQ(fast_exp(0.f), 1.f);
}

TEST(Forward, KvCacheDecodeEqualsFullSequence) {
  Model m = test::make_tiny_model();
  auto tok = test::random_tokens(30, m.config.vocab_size, 10);
  auto full = forward_logits(m, tok);
  Session s(m, 64);
  // Prefill 12 tokens in one call, then one at a time.
  auto last = s.step(std::span<const int>(tok.data(), 12));
  const int V = m.config.vocab_size;
  for (int i = 0; i < V; ++i) EXPECT_NEAR(last[size_t(i)], full[size_t(11 * V + i)], 1e-4f);
  for (size_t t = 12; t < tok.size(); ++t) {
    auto lg = s.step(std::span<const int>(&tok[t], 1));
    for (int i = 0; i < V; ++i) ASSERT_NEAR(lg[size_t(i)], full[t * V + size_t(i)], 1e-4f) << "t=" << t;
  }
  EXPECT_THROW(s.step(test::random_tokens(40, V, 1)), Error);  // beyond the 64-token context
}

// Decode attention (attention.cc: decode_heads over blocks of 32 keys,
// decode_scores in blocks of 8 keys and 8 columns, decode_pv in 32-column
// chunks, each with tails; query heads of a KV head taken together, more of
// them per task with fewer threads): head dims 40 (a 32-column chunk + an
// 8-column tail) and 64, groups of 2 and 4, 1..41 keys, 1 and 2 threads,
// equal to the full-sequence forward.
TEST(Forward, KvCacheDecodeEqualsFullSequenceWideHeads) {
  struct Case {
    int dim, heads, kv_heads;
  };
  const int saved = omp_get_max_threads();
  for (const Case cs : {Case{80, 2, 1}, Case{128, 2, 1}, Case{256, 4, 1}, Case{256, 4, 2}})
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      test::TinySpec spec;
      spec.dim = cs.dim;
      spec.heads = cs.heads;
      spec.kv_heads = cs.kv_heads;
      Model m = test::make_tiny_model(spec);
      ASSERT_EQ(m.config.head_dim, cs.dim / cs.heads);
      auto tok = test::random_tokens(41, m.config.vocab_size, 12);
      auto full = forward_logits(m, tok);
      Session s(m, 64);
      const int V = m.config.vocab_size;
      for (size_t t = 0; t < tok.size(); ++t) {
        auto lg = s.step(std::span<const int>(&tok[t], 1));
        for (int i = 0; i < V; ++i)
          ASSERT_NEAR(lg[size_t(i)], full[t * V + size_t(i)], 1e-4f + 2e-6f * std::abs(full[t * V + size_t(i)]))
              << "dim " << cs.dim << " heads " << cs.heads << "/" << cs.kv_heads << " threads " << threads << " t=" << t;
      }
    }
  omp_set_num_threads(saved);
}

TEST(Forward, SlidingWindowLimitsAttention) {
  Model m = test::make_tiny_model();
  auto tok = test::random_tokens(20, m.config.vocab_size, 11);
  auto full = forward_logits(m, tok);
  m.config.sliding_window = 4;
  auto windowed = forward_logits(m, tok);
  const int V = m.config.vocab_size;
  // Positions < window see everything either way; later ones differ.
  for (int i = 0; i < 4 * V; ++i) EXPECT_NEAR(full[size_t(i)], windowed[size_t(i)], 1e-5f);
  EXPECT_GT(max_abs_diff(full, windowed), 1e-3f);
  // Windowed prefill equals windowed token-by-token decode.
  Session s(m, 64);
  for (size_t t = 0; t < tok.size(); ++t) {
    auto lg = s.step(std::span<const int>(&tok[t], 1));
    for (int i = 0; i < V; ++i) ASSERT_NEAR(lg[size_t(i)], windowed[t * V + size_t(i)], 1e-4f);
  }
}

TEST(Forward, RejectsOutOfRangeToken) {
  Model m = test::make_tiny_model();
  std::vector<int> tok = {1, 2, m.config.vocab_size};
  EXPECT_THROW(forward_logits(m, tok), Error);
}

// The same weights as a llama2.c .bin and as an HF directory (RoPE rows
// permuted to the halves layout by the writer) give the same logits.
TEST(Checkpoints, Llama2cAndHfGiveSameLogits) {
  for (bool tie : {true, false}) {
    test::TinySpec s;
    s.tie = tie;
    Model m = test::make_tiny_model(s);
    test::TempDir dir;
    save_llama2c(m, dir.file("model.bin"));
    save_hf_model(m, dir.path());
    Model a = load_model(dir.file("model.bin"));
    Model b = load_model(dir.path());
    EXPECT_EQ(a.config.pos, PosKind::RopeInterleaved);
    EXPECT_EQ(b.config.pos, PosKind::RopeHalves);
    EXPECT_EQ(b.config.tie_embeddings, tie);
    auto tok = test::random_tokens(25, m.config.vocab_size, 3);
    auto la = forward_logits(a, tok), lb = forward_logits(b, tok), lm = forward_logits(m, tok);
    EXPECT_LT(max_abs_diff(la, lm), 1e-6f);
    EXPECT_LT(max_abs_diff(la, lb), 1e-4f);
    // The HF weights really are permuted (not a trivially identical layout).
    EXPECT_GT(std::abs(a.weights.blocks[0].wq.w.data()[m.config.dim] - b.weights.blocks[0].wq.w.data()[m.config.dim]),
              0.f);
  }
}

TEST(Checkpoints, HfHalfPrecisionLoadsClose) {
  Model m = test::make_tiny_model();
  auto tok = test::random_tokens(20, m.config.vocab_size, 4);
  auto ref = forward_logits(m, tok);
  for (DType dt : {DType::F16, DType::BF16}) {
    test::TempDir dir;
    HfSaveOptions o;
    o.dtype = dt;
    save_hf_model(m, dir.path(), o);
    Model b = load_model(dir.path());
    EXPECT_EQ(b.source_dtype, dtype_name(dt));
    // Matrices stay 16-bit and mapped; norms become fp32.
    const Tensor& wq = b.weights.blocks[0].wq.w;
    EXPECT_TRUE(wq.is_view());
    EXPECT_EQ(wq.type(), dt == DType::F16 ? ElemType::F16 : ElemType::BF16);
    EXPECT_TRUE(b.weights.tok_embed.is_view());
    EXPECT_TRUE(b.weights.blocks[0].attn_norm.is_f32());
    float tol = dt == DType::F16 ? 0.02f : 0.15f;
    const auto lb = forward_logits(b, tok);
    EXPECT_LT(max_abs_diff(lb, ref), tol) << dtype_name(dt);
    // In place gives the same logits as the model widened to fp32 first
    // (only the summation order of the products differs).
    Model wide = b;
    for (auto& blk : wide.weights.blocks)
      for (auto& r : blk.linears()) r.linear->w = r.linear->w.to_f32();
    wide.weights.tok_embed = wide.weights.tok_embed.to_f32();
    wide.weights.lm_head = wide.weights.lm_head.to_f32();
    EXPECT_LT(max_abs_diff(forward_logits(wide, tok), lb), 1e-4f) << dtype_name(dt);
    // Decode (the GEMV path) agrees with prefill (the panel + sgemm path).
    Session s(b, 32);
    std::vector<float> last;
    for (int t : tok) {
      auto l = s.step(std::span<const int>(&t, 1));
      last.assign(l.begin(), l.end());
    }
    std::vector<float> ref_last(lb.end() - m.config.vocab_size, lb.end());
    EXPECT_LT(max_abs_diff(last, ref_last), 1e-4f) << dtype_name(dt);
  }
}

TEST(Checkpoints, F32WeightsAreMappedNotCopied) {
  Model m = test::make_tiny_model();
  test::TempDir dir;
  save_llama2c(m, dir.file("m.bin"));
  save_hf_model(m, dir.path());
  EXPECT_TRUE(load_model(dir.file("m.bin")).weights.blocks[1].w_down.w.is_view());
  EXPECT_TRUE(load_model(dir.path()).weights.blocks[1].w_down.w.is_view());
}

// Tensor::storage() identifies owned storage without keeping it alive (the
// calibration driver tells a replaced linear from an untouched one by it, and
// must not hold the replaced fp32 weights).
TEST(Tensor, StorageIdentityDoesNotKeepTheStorage) {
  auto same = [](const std::weak_ptr<const void>& a, const std::weak_ptr<const void>& b) {
    return !a.owner_before(b) && !b.owner_before(a);
  };
  Tensor a = Tensor::from(std::vector<float>(1000, 1.f), 10, 100);
  const std::weak_ptr<const void> id = a.storage();
  Tensor b = a;
  EXPECT_TRUE(same(b.storage(), id));
  a = Tensor::from(std::vector<float>(1000, 2.f), 10, 100);
  b = a;  // the first storage has no holder left
  EXPECT_TRUE(id.expired());
  EXPECT_FALSE(same(a.storage(), id));
  const Tensor c = Tensor::from(std::vector<float>(1000, 3.f), 10, 100);  // may reuse the freed address
  EXPECT_FALSE(same(c.storage(), id));
}

}  // namespace
}  // namespace slim
