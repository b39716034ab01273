#include <gtest/gtest.h>

#include <cmath>

#include "eval/perplexity.h"
#include "model/forward.h"
#include "tiny_model.h"

namespace slim {
namespace {

using test::bigram_logp;
using test::bigram_model;

double bigram_nll(int V, const std::vector<float>& A, int prev, int next) { return -bigram_logp(V, A, prev, next); }

TEST(Perplexity, BigramModelByHand) {
  const int V = 8;
  std::vector<float> A(size_t(V * V));
  for (int i = 0; i < V * V; ++i) A[size_t(i)] = 0.1f * float((i * 7) % 11) - 0.5f;
  Model m = bigram_model(V, A);
  std::vector<int> tok = {1, 3, 5, 7, 2, 4, 6, 0, 1, 1, 2, 3, 4};  // 13 tokens
  PplOptions o;
  o.seqlen = 5;  // 2 chunks of 5, tail of 3 dropped
  o.progress = false;
  PplResult r = perplexity(m, tok, o);
  ASSERT_EQ(r.chunks, 2);
  EXPECT_EQ(r.tokens, 13);
  double expect_sum = 0;
  for (int c = 0; c < 2; ++c) {
    double s = 0;
    for (int t = 0; t < 4; ++t) s += bigram_nll(V, A, tok[size_t(c * 5 + t)], tok[size_t(c * 5 + t + 1)]);
    EXPECT_NEAR(r.chunk_nll[size_t(c)], s / 4, 1e-5);
    expect_sum += s / 4;
  }
  EXPECT_NEAR(r.ppl, std::exp(expect_sum / 2), 1e-4 * r.ppl);

  o.max_chunks = 1;
  EXPECT_EQ(perplexity(m, tok, o).chunks, 1);
}

TEST(Perplexity, UniformModelHasPplEqualToVocab) {
  Model m = test::make_tiny_model();
  m.weights.lm_head = Tensor::zeros(m.config.vocab_size, m.config.dim);
  m.config.tie_embeddings = false;
  auto tok = test::random_tokens(40, m.config.vocab_size, 2);
  PplOptions o;
  o.seqlen = 16;
  o.progress = false;
  EXPECT_NEAR(perplexity(m, tok, o).ppl, m.config.vocab_size, 1e-3);
}

TEST(Perplexity, MatchesFullForwardLogits) {
  Model m = test::make_tiny_model();
  auto tok = test::random_tokens(32, m.config.vocab_size, 5);
  auto lg = forward_logits(m, tok);
  const int V = m.config.vocab_size;
  double s = 0;
  for (int t = 0; t < 31; ++t) {
    const float* l = &lg[size_t(t * V)];
    double mx = *std::max_element(l, l + V), se = 0;
    for (int i = 0; i < V; ++i) se += std::exp(l[i] - mx);
    s += std::log(se) + mx - l[tok[size_t(t + 1)]];
  }
  EXPECT_NEAR(sequence_nll(m, tok), s / 31, 1e-5);
}

TEST(Perplexity, RejectsBadSettings) {
  Model m = test::make_tiny_model();
  auto tok = test::random_tokens(10, m.config.vocab_size, 2);
  PplOptions o;
  o.progress = false;
  o.seqlen = 16;  // longer than the text
  EXPECT_THROW(perplexity(m, tok, o), Error);
  o.seqlen = 1000;  // longer than the context
  EXPECT_THROW(perplexity(m, tok, o), Error);
}

// Issue 14: the non-finite check threw inside `omp critical`, which is
// std::terminate (SIGABRT) instead of an error the CLI reports.
TEST(Perplexity, NanWeightIsAnErrorNotAnAbort) {
  Model m = test::make_tiny_model();
  m.weights.blocks[0].wq.w.mutable_data()[3] = std::nanf("");
  auto tok = test::random_tokens(64, m.config.vocab_size, 2);
  PplOptions o;
  o.progress = false;
  o.seqlen = 16;  // 4 chunks: the per-thread path
  try {
    perplexity(m, tok, o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slim
