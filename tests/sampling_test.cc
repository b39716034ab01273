// slim generate's token choice and context (issue 14): settings that empty the
// nucleus are refused, non-finite logits are an error, and the context length
// does not overflow.
#include "eval/sampling.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <limits>
#include <vector>

#include "util/error.h"

namespace slim {
namespace {

const std::vector<float> kLogits = {0.1f, 2.0f, -1.0f, 0.5f};

TEST(Sampling, GreedyPicksTheArgmax) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(sample_token(kLogits, 0.f, 0.9f, rng), 1);
}

TEST(Sampling, TopPZeroOrNanIsRefusedNotReadOutOfBounds) {
  std::mt19937_64 rng(1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(sample_token(kLogits, 1.f, 0.f, rng), Error);
  EXPECT_THROW(sample_token(kLogits, 1.f, nan, rng), Error);
  EXPECT_THROW(sample_token(kLogits, 1.f, 1.5f, rng), Error);
  EXPECT_THROW(validate_sampling(1.f, 0.f), Error);
}

TEST(Sampling, NanOrNegativeTemperatureIsRefused) {
  std::mt19937_64 rng(1);
  EXPECT_THROW(sample_token(kLogits, std::numeric_limits<float>::quiet_NaN(), 0.9f, rng), Error);
  EXPECT_THROW(sample_token(kLogits, -1.f, 0.9f, rng), Error);
  EXPECT_THROW(sample_token(kLogits, std::numeric_limits<float>::infinity(), 0.9f, rng), Error);
}

TEST(Sampling, TinyTopPKeepsTheMostLikelyToken) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    EXPECT_EQ(sample_token(kLogits, 1.f, 1e-6f, rng), 1);
  }
}

TEST(Sampling, SampledTokensAreAlwaysInRange) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    const int t = sample_token(kLogits, 0.7f, 0.95f, rng);
    EXPECT_GE(t, 0);
    EXPECT_LT(t, int(kLogits.size()));
  }
}

TEST(Sampling, NonFiniteLogitIsAnErrorNotUnk) {
  std::mt19937_64 rng(1);
  std::vector<float> bad = kLogits;
  bad[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(sample_token(bad, 0.f, 0.9f, rng), Error);  // greedy used to return a NaN slot (<unk>)
  EXPECT_THROW(sample_token(bad, 1.f, 0.9f, rng), Error);
  bad[2] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(sample_token(bad, 0.f, 0.9f, rng), Error);
}

TEST(Sampling, HugeMaxTokensCapsAtTheContextWithoutOverflow) {
  EXPECT_EQ(generation_context(64, 5, INT_MAX), 64);
  EXPECT_EQ(generation_context(64, 5, 10), 15);
  EXPECT_EQ(generation_context(64, 64, 0), 64);
  EXPECT_THROW(generation_context(64, 5, -1), Error);
  try {
    generation_context(64, 80, 10);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context is 64"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slim
