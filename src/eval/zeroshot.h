// Zero-shot multiple-choice scoring, lm-evaluation-harness style: every choice
// is scored by the summed log-likelihood of its continuation tokens given its
// context; acc = argmax of the sums, acc_norm = argmax of sum / length of the
// choice text; standard error of a mean of 0/1 scores = sqrt(p(1-p)/(n-1)).
//
// Tokenization follows the harness's HFLM._encode_pair: trailing whitespace of
// the context moves to the front of the continuation, the whole string is
// encoded once, and the continuation is what follows the context's own
// encoding length. Differences from a stock lm-eval run, on purpose:
//   - BOS is prepended (add_bos, the default) as LLaMA-family models were
//     trained; lm-eval's HFLM adds none unless add_bos_token=True. --no-bos
//     reproduces the harness default (then an empty context is not allowed).
//   - Sequences longer than the context are cut from the left as the harness
//     does ((ctx + cont)[-(max_len+1):][:-1]). A continuation that alone is
//     longer than the context (the harness fails on it; it happens with tiny
//     models such as stories260K, 512 tokens) is scored in several windows so
//     that every continuation token still counts.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/tasks.h"
#include "io/tokenizer.h"
#include "model/weights.h"

namespace slim {

struct TokenPair {
  std::vector<int> context, continuation;
};

// lm-eval's _encode_pair (decoder-only branch), with BOS on both encodings.
TokenPair encode_pair(const Tokenizer& tok, std::string_view context, std::string_view continuation, bool add_bos);

// One example, tokenized: a (context, continuation) pair and the acc_norm
// length per choice.
struct McRequest {
  std::vector<TokenPair> choices;
  std::vector<double> norm_len;  // (n_choices) divisor of acc_norm
  int label = 0;
};

// The acc_norm divisor: the length of the choice text in characters (UTF-8
// code points, as Python's len()), without the leading target delimiter " ":
// lm-eval computes completion_len = len(choice) on the doc_to_choice strings.
// At least 1, so an empty choice cannot divide by zero.
double choice_norm_length(std::string_view continuation);

McRequest tokenize_example(const Tokenizer& tok, const McExample& ex, bool add_bos);

struct ZeroShotOptions {
  int max_len = 0;  // 0: the model's context length
  int limit = -1;   // -1: every example, else the first `limit` (lm-eval --limit)
  bool add_bos = true;
  bool progress = true;
  std::string label = "eval";  // progress line prefix
};

struct ExampleScore {
  std::vector<double> loglik;  // (n_choices) summed continuation log-likelihood
  int pred = 0, pred_norm = 0;
  bool truncated = false;  // some choice was cut from the left
};

struct McResult {
  int n = 0;
  double acc = 0, acc_stderr = 0, acc_norm = 0, acc_norm_stderr = 0;
  double seconds = 0;         // scoring wall time, tokenization included
  long tokens_forwarded = 0;  // token positions run through the model
  long tokens_unshared = 0;   // ... had every choice been run on its own
  int truncated = 0;          // examples cut from the left
  std::vector<ExampleScore> examples;
  double examples_per_second() const { return seconds > 0 ? n / seconds : 0; }
};

// Summed log-likelihood of each choice's continuation. The longest token
// prefix shared by all choices (up to the first scored position) is run once
// into a KV cache; each choice then runs only its own tail from there.
std::vector<double> score_choices(const Model& m, std::span<const TokenPair> choices, int max_len = 0);

McResult evaluate_requests(const Model& m, std::span<const McRequest> reqs, const ZeroShotOptions& opt);
McResult evaluate_mc(const Model& m, const Tokenizer& tok, std::span<const McExample> examples,
                     const ZeroShotOptions& opt);

// Index of the first maximum (numpy.argmax).
int argmax_first(std::span<const double> v);
// Standard error of a mean of 0/1 scores with mean p over n samples, the
// sample-stddev form lm-eval uses: sqrt(p(1-p)/(n-1)); 0 when n < 2.
double mean_stderr(double p, int n);

}  // namespace slim
