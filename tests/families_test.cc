// Each supported family on a tiny checkpoint in its exact Hugging Face layout
// (tests/hf_reference.h): the production loader + forward pass against the
// independent float64 reference, decode through the KV cache, and the
// quantize -> pack -> packed-load pipeline equal to the fake-quantized model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "calib/dataset.h"
#include "eval/perplexity.h"
#include "hf_reference.h"
#include "io/hf_checkpoint.h"
#include "model/forward.h"
#include "pack/packed_model.h"
#include "quant/pipeline.h"
#include "test_util.h"
#include "tiny_model.h"

namespace slim {
namespace {

class Family : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ck = test::make_hf_checkpoint(GetParam(), 5);
    ck.write(dir.path());
    model = load_hf_model(dir.path());
  }
  test::TempDir dir;
  test::HfCheckpoint ck;
  Model model;
  std::vector<int> tokens = test::random_tokens(40, 64, 21);
};

double nll_of(const std::vector<double>& logits, const std::vector<int>& tok, int V) {
  double s = 0;  // mean next-token NLL over positions 0..T-2, as sequence_nll
  for (size_t t = 0; t + 1 < tok.size(); ++t) {
    const double* l = &logits[t * size_t(V)];
    double mx = -1e300, sum = 0;
    for (int v = 0; v < V; ++v) mx = std::max(mx, l[v]);
    for (int v = 0; v < V; ++v) sum += std::exp(l[v] - mx);
    s += mx + std::log(sum) - l[tok[t + 1]];
  }
  return s / double(tok.size() - 1);
}

TEST_P(Family, ForwardMatchesTheFloat64Reference) {
  EXPECT_EQ(model.source_dtype, ck.config["torch_dtype"] == "float16" ? "F16" : "BF16");
  const int V = model.config.vocab_size;
  const auto ref = test::hf_reference_logits(ck, tokens);
  const auto got = forward_logits(model, tokens);
  ASSERT_EQ(ref.size(), got.size());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(ref[i] - got[i]));
    max_abs = std::max(max_abs, std::fabs(ref[i]));
  }
  EXPECT_LT(max_diff, 1e-5 * max_abs);
  const double nll_ref = nll_of(ref, tokens, V), nll = sequence_nll(model, tokens);
  // The figures docs/RESULTS.md quotes (issue 13's family table).
  std::printf("[family %s] logits max |diff| / max |logit| = %.2e, nll %.9f vs reference %.9f (rel %.2e)\n",
              GetParam().c_str(), max_diff / max_abs, nll, nll_ref, std::fabs(nll - nll_ref) / nll_ref);
  EXPECT_LT(std::fabs(nll - nll_ref), 1e-5 * nll_ref) << nll << " vs " << nll_ref;
}

TEST_P(Family, DecodeThroughTheCacheEqualsPrefill) {
  const int V = model.config.vocab_size;
  const auto full = forward_logits(model, tokens);
  Session s(model, 64);
  for (size_t t = 0; t < tokens.size(); ++t) {
    auto l = s.step(std::span<const int>(&tokens[t], 1));
    for (int v = 0; v < V; ++v) ASSERT_NEAR(l[size_t(v)], full[t * size_t(V) + size_t(v)], 1e-4) << t;
  }
}

TEST_P(Family, QuantizedAndPackedEqualsFakeQuant) {
  for (const std::string method : {"gptq", "slim", "slim+"}) {
    Model m = load_hf_model(dir.path());
    const CalibWindows calib = sample_windows(test::random_tokens(2000, 64, 9), 8, 32, 0);
    QuantizeOptions o;
    o.method = method;
    o.bits = 2;
    o.group_size = 8;
    o.progress = false;
    std::vector<LinearQuantParams> params;
    o.params_out = &params;
    // Block training covers pre-norm LLaMA-style blocks with full attention over the window only.
    const bool gemma = GetParam().starts_with("gemma");
    if (method == "slim+" && (GetParam() == "opt350m" || GetParam() == "phi3" || gemma)) {
      test::expect_error([&] { quantize_model(m, &calib, o); },
                         {GetParam() == "phi3" ? "sliding-window" : gemma ? "Gemma-style" : "post-norm"});
      continue;
    }
    quantize_model(m, &calib, o);
    test::TempDir out, fq_dir;
    save_packed_model(m, params, {}, out.path());
    const Model pk = load_packed_model(out.path());
    const double nll_fq = sequence_nll(m, tokens), nll_pk = sequence_nll(pk, tokens);
    EXPECT_LT(std::fabs(nll_fq - nll_pk), 1e-5 * nll_fq) << method;
    std::printf("[family %s] %s 2-bit g8: nll fp %.5f, fake-quant %.5f, packed %.5f\n", GetParam().c_str(), method.c_str(),
                sequence_nll(model, tokens), nll_fq, nll_pk);
    EXPECT_GT(std::fabs(nll_fq - sequence_nll(model, tokens)), 1e-4) << method << ": quantization changed nothing";
    // The fake-quantized model written as an HF checkpoint reloads the same.
    save_hf_model(m, fq_dir.path());
    EXPECT_LT(std::fabs(sequence_nll(load_hf_model(fq_dir.path()), tokens) - nll_fq), 1e-5 * nll_fq) << method;
  }
}

INSTANTIATE_TEST_SUITE_P(Hf, Family,
                         ::testing::Values("llama", "qwen2", "qwen3", "phi3", "opt", "opt350m", "gemma2", "gemma3"),
                         [](const auto& i) { return i.param; });

}  // namespace
}  // namespace slim
