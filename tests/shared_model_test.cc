// Golden checks on the real stories260K checkpoint (skipped without ../shared).
#include <gtest/gtest.h>

#include "eval/perplexity.h"
#include "io/model_source.h"
#include "model/forward.h"
#include "test_util.h"
#include "util/files.h"

namespace slim {
namespace {

TEST(SharedModel, Stories260kGreedyStoryAboutLily) {
  SLIM_REQUIRE_SHARED(shared);
  LoadedModel lm = open_model(shared + "/data/models/stories260K.bin", shared + "/data/models/tok512.bin");
  std::vector<int> ids = lm.tokenizer->encode("Once upon a time", true);
  Session s(lm.model, 512);
  auto logits = s.step(ids);
  for (int i = 0; i < 40; ++i) {
    int next = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
    ids.push_back(next);
    logits = s.step(std::span<const int>(&ids.back(), 1));
  }
  // shared/README.md: the expected greedy continuation.
  const std::string expect =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
      "One day, she saw a big, red ball.";
  std::string text = lm.tokenizer->decode(ids);
  EXPECT_EQ(text.substr(0, expect.size()), expect) << text;
}

TEST(SharedModel, Stories260kPerplexityIsFiniteAndStable) {
  SLIM_REQUIRE_SHARED(shared);
  LoadedModel lm = open_model(shared + "/data/models/stories260K.bin", shared + "/data/models/tok512.bin");
  auto tok = lm.tokenizer->encode(read_file(shared + "/data/text/tinystories_excerpt.txt"), true);
  PplOptions o;
  o.seqlen = 512;
  o.max_chunks = 4;
  o.progress = false;
  PplResult r = perplexity(lm.model, tok, o);
  EXPECT_EQ(r.chunks, 4);
  // In-domain text: a trained 260K model sits far below the uniform 512.
  EXPECT_GT(r.ppl, 2.0);
  EXPECT_LT(r.ppl, 12.0);
  // The cached decode path scores the first chunk the same as the batched one.
  Session s(lm.model, 512);
  double nll = 0;
  auto lg = s.step(std::span<const int>(tok.data(), 1));
  for (int t = 1; t < 512; ++t) {
    float mx = *std::max_element(lg.begin(), lg.end());
    double se = 0;
    for (float v : lg) se += std::exp(double(v - mx));
    nll += std::log(se) + mx - lg[size_t(tok[size_t(t)])];
    lg = s.step(std::span<const int>(&tok[size_t(t)], 1));
  }
  EXPECT_NEAR(nll / 511, r.chunk_nll[0], 1e-4);
}

}  // namespace
}  // namespace slim
