#include "eval/sampling.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "util/error.h"

namespace slim {

void validate_sampling(float temperature, float top_p) {
  SLIM_CHECK(std::isfinite(temperature) && temperature >= 0.f,
             "--temperature must be a finite number >= 0 (0 = greedy), got {}", temperature);
  SLIM_CHECK(top_p > 0.f && top_p <= 1.f, "--top-p must be in (0, 1], got {}", top_p);
}

int sample_token(std::span<const float> logits, float temperature, float top_p, std::mt19937_64& rng) {
  SLIM_CHECK(!logits.empty(), "no logits to sample from");
  validate_sampling(temperature, top_p);
  for (size_t i = 0; i < logits.size(); ++i)
    SLIM_CHECK(std::isfinite(logits[i]),
               "the model produced a non-finite logit ({}) for token {} (NaN/Inf in the weights?)", logits[i], i);
  if (temperature <= 0.f) return int(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<std::pair<float, int>> p(logits.size());
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    p[i] = {float(std::exp((logits[i] - mx) / temperature)), int(i)};
    sum += p[i].first;
  }
  std::sort(p.begin(), p.end(), std::greater<>());
  // Nucleus: the smallest prefix whose mass reaches top_p; never empty (the
  // most likely token has mass exp(0) = 1 > 0).
  double cum = p[0].first;
  size_t keep = 1;
  while (keep < p.size() && cum < top_p * sum) cum += p[keep++].first;
  std::uniform_real_distribution<double> u(0, cum);
  double r = u(rng);
  for (size_t i = 0; i < keep; ++i)
    if ((r -= p[i].first) <= 0) return p[i].second;
  return p[keep - 1].second;
}

int generation_context(int max_seq_len, size_t prompt_tokens, int max_tokens) {
  SLIM_CHECK(max_tokens >= 0, "--max-tokens must be >= 0, got {}", max_tokens);
  SLIM_CHECK(prompt_tokens < size_t(max_seq_len) || (max_tokens == 0 && prompt_tokens == size_t(max_seq_len)),
             "the prompt has {} tokens; the model's context is {}, leaving no room to generate", prompt_tokens,
             max_seq_len);
  return int(std::min<int64_t>(max_seq_len, int64_t(prompt_tokens) + max_tokens));
}

}  // namespace slim
