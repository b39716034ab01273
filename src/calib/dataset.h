// Calibration data: N random windows of L tokens from a tokenized text.
//
// Reproducible on every machine: the generator is std::mt19937_64 (its output
// sequence is fixed by the C++ standard) seeded with `seed`, and each window
// start is drawn uniformly from [0, ntok - L - 1] by rejection sampling on the
// raw 64-bit outputs (std::uniform_int_distribution is implementation-defined,
// so it is not used). Same text + tokenizer + seed => same windows.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace slim {

struct CalibWindows {
  int seqlen = 0;
  std::vector<int64_t> starts;          // (nsamples)
  std::vector<std::vector<int>> tokens;  // (nsamples, seqlen)
};

// Uniform integer in [0, n) from mt19937_64, portable.
CalibWindows sample_windows(std::span<const int> text_tokens, int nsamples, int seqlen, uint64_t seed);

}  // namespace slim
