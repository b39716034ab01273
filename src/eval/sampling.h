// Next-token choice for `slim generate`: greedy at temperature 0, else
// temperature + nucleus (top-p) sampling; and the context a run needs.
#pragma once
#include <cstddef>
#include <random>
#include <span>

namespace slim {

// Refuses settings that leave no token to sample: temperature must be finite
// and >= 0, top_p in (0, 1] (NaN and 0 emptied the nucleus and read past it).
void validate_sampling(float temperature, float top_p);

// One token id from `logits` (vocab). A non-finite logit (NaN/Inf weights) is
// an error, never a silent <unk>.
int sample_token(std::span<const float> logits, float temperature, float top_p, std::mt19937_64& rng);

// KV-cache length of a run: prompt + max_tokens, capped at the model's
// context, computed without int overflow (--max-tokens 2147483647). The prompt
// must leave room for at least one generated token when max_tokens > 0.
int generation_context(int max_seq_len, size_t prompt_tokens, int max_tokens);

}  // namespace slim
