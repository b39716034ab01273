// Perplexity, GPTQ protocol: the whole text tokenized once (one BOS at the
// start), cut into non-overlapping chunks of `seqlen` tokens (the partial tail
// dropped), each chunk an independent forward pass; per chunk the mean
// next-token NLL over its seqlen-1 predictions; PPL = exp(mean over chunks).
#pragma once
#include <span>
#include <vector>

#include "model/weights.h"
#include "util/memory.h"

namespace slim {

struct PplOptions {
  int seqlen = 2048;
  int max_chunks = -1;  // -1: all
  bool progress = true;
};

struct PplResult {
  double ppl = 0, mean_nll = 0;
  long tokens = 0;  // tokens in the text
  int chunks = 0;
  int seqlen = 0;
  double seconds = 0;
  std::vector<double> chunk_nll;  // mean NLL of each chunk
};

PplResult perplexity(const Model& m, std::span<const int> tokens, const PplOptions& opt);

// What perplexity() allocates for chunks of `seqlen` with `threads` workers
// (one scorer per thread on small models), for the up-front check.
MemoryNeed perplexity_memory(const ModelConfig& c, int seqlen, int threads);

// Mean NLL of predicting tokens[1..] from the prefix, for one sequence
// starting at position 0 (one chunk of the protocol).
double sequence_nll(const Model& m, std::span<const int> tokens);

}  // namespace slim
