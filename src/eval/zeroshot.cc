#include "eval/zeroshot.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>

#include "model/forward.h"
#include "util/error.h"
#include "util/progress.h"

namespace slim {

namespace {

// One choice, ready to run: the model input (the full token sequence, cut
// from the left to max_len+1 tokens, without its last token) and the tokens
// the last `targets.size()` inputs predict.
struct PreparedChoice {
  std::vector<int> input;    // (L) tokens fed to the model, positions 0..L-1
  std::vector<int> targets;  // (n_scored) continuation tokens, predicted by input rows L-n_scored..L-1
  bool truncated = false;
  // The continuation alone is longer than the window: scored in several
  // windows (see ChoiceScorer::windowed), `input` then holds the whole sequence.
  bool windowed = false;
  int first_scored() const { return int(input.size() - targets.size()); }
};

PreparedChoice prepare(const TokenPair& p, int max_len) {
  SLIM_CHECK(!p.context.empty(), "empty context with no BOS: nothing to condition the first token on");
  PreparedChoice c;
  std::vector<int> full = p.context;
  full.insert(full.end(), p.continuation.begin(), p.continuation.end());
  c.targets = p.continuation;
  // lm-eval: inp = (context_enc + continuation_enc)[-(max_length+1):][:-1]
  const size_t keep = std::min(full.size(), size_t(max_len) + 1);
  c.truncated = keep < full.size();
  c.windowed = p.continuation.size() > size_t(max_len);
  if (c.windowed) {
    c.input = std::move(full);
  } else {
    c.input.assign(full.end() - long(keep), full.end() - 1);
  }
  return c;
}

// Runs token sequences through the model into a KV cache and scores rows of
// the last run. One per thread; buffers are sized once for `capacity` tokens.
class ChoiceScorer {
 public:
  ChoiceScorer(const Model& m, int capacity) : m_(m) {
    rope_.build(m.config, capacity);
    cache_.init(m.config, capacity);
  }

  std::vector<double> score(std::span<const TokenPair> choices, int max_len, long& forwarded, long& unshared,
                            bool& truncated) {
    std::vector<PreparedChoice> pc;
    for (const auto& p : choices) pc.push_back(prepare(p, max_len));
    // The shared prefix: common to every (single-window) input and ending at
    // or before the first scored row of each, so no choice needs a logit from it.
    const PreparedChoice* first = nullptr;
    int shared = 0, sharing = 0;
    for (const auto& c : pc) {
      if (c.windowed) continue;
      if (!first) {
        first = &c;
        shared = c.first_scored();
      }
      int k = 0;
      while (k < std::min(shared, c.first_scored()) && c.input[size_t(k)] == first->input[size_t(k)]) ++k;
      shared = k;
      ++sharing;
    }
    if (sharing < 2) shared = 0;  // nothing to share
    if (shared > 0) run(std::span<const int>(first->input).first(size_t(shared)), 0);
    forwarded += shared;
    std::vector<double> ll(pc.size(), 0.0);
    for (size_t i = 0; i < pc.size(); ++i) {
      const PreparedChoice& c = pc[i];
      truncated = truncated || c.truncated;
      if (c.windowed) {
        ll[i] = windowed(c.input, int(c.input.size() - c.targets.size()), max_len, forwarded, unshared);
        continue;
      }
      unshared += long(c.input.size());
      if (c.targets.empty()) continue;  // lm-eval: an empty continuation sums to 0
      // The tail overwrites cache rows shared.. left by the previous choice.
      const auto tail = std::span<const int>(c.input).subspan(size_t(shared));
      run(tail, shared);
      forwarded += long(tail.size());
      ll[i] = loglik_rows(c.first_scored() - shared, c.targets);
    }
    return ll;
  }

 private:
  // x_ (T, dim) = final hidden states of `tok` at positions pos0..pos0+T-1.
  void run(std::span<const int> tok, int pos0) {
    const ModelConfig& c = m_.config;
    const int T = int(tok.size());
    x_.resize(size_t(T) * c.dim);
    embed(m_, tok, x_.data(), pos0);  // learned positions (OPT) start at pos0 for a choice's tail
    for (int l = 0; l < c.n_layers; ++l)
      block_forward(c, l, m_.weights.blocks[size_t(l)], rope_, x_.data(), T, pos0, cache_.k_layer(l), cache_.v_layer(l),
                    scratch_);
  }

  // A continuation longer than the context (only seen with tiny-context
  // models; lm-eval has no answer for it): every continuation token of `full`
  // (from index n_ctx on) is scored once, each with as much left context as
  // fits, in windows taken from the end backwards.
  double windowed(std::span<const int> full, int n_ctx, int max_len, long& forwarded, long& unshared) {
    double ll = 0;
    for (int end = int(full.size()); end > n_ctx;) {  // targets full[n_ctx, end) still to score
      const int L = std::min(max_len, end - 1);       // inputs full[end-1-L, end-1) predict full[end-L, end)
      const int n = std::min(L, end - n_ctx);
      run(full.subspan(size_t(end - 1 - L), size_t(L)), 0);
      ll += loglik_rows(L - n, full.subspan(size_t(end - n), size_t(n)));
      forwarded += L;
      unshared += L;
      end -= n;
    }
    return ll;
  }

  // Sum over r of log softmax(head(x_ row row0+r))[targets[r]]. The head runs
  // in row tiles so a 32k vocabulary never needs a (T, vocab) matrix.
  double loglik_rows(int row0, std::span<const int> targets) {
    const ModelConfig& c = m_.config;
    const int n = int(targets.size());
    double sum = 0;
    for (int t0 = 0; t0 < n; t0 += kTile) {
      const int rows = std::min(kTile, n - t0);
      logits_.resize(size_t(rows) * c.vocab_size);  // (rows, vocab)
      head_logits(m_, x_.data() + int64_t(row0 + t0) * c.dim, rows, logits_.data(), tmp_);
      for (int r = 0; r < rows; ++r) {
        const float* lg = &logits_[size_t(r) * c.vocab_size];
        const float mx = *std::max_element(lg, lg + c.vocab_size);
        double se = 0;
        for (int i = 0; i < c.vocab_size; ++i) se += std::exp(double(lg[i] - mx));
        const int y = targets[size_t(t0 + r)];
        SLIM_CHECK(y >= 0 && y < c.vocab_size, "token id {} is outside the vocabulary", y);
        sum += double(lg[y] - mx) - std::log(se);
      }
    }
    return sum;
  }

  static constexpr int kTile = 64;
  const Model& m_;
  RopeTable rope_;
  KVCache cache_;
  BlockScratch scratch_;
  std::vector<float> x_, logits_, tmp_;
};

int input_length(const TokenPair& p, int max_len) {
  return int(std::min(p.context.size() + p.continuation.size(), size_t(max_len) + 1)) - 1;
}

}  // namespace

int argmax_first(std::span<const double> v) {
  return int(std::max_element(v.begin(), v.end()) - v.begin());  // first of equal maxima
}

double mean_stderr(double p, int n) { return n < 2 ? 0.0 : std::sqrt(p * (1 - p) / (n - 1)); }

double choice_norm_length(std::string_view continuation) {
  if (continuation.starts_with(' ')) continuation.remove_prefix(1);
  long cps = 0;
  for (char ch : continuation) cps += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;  // skip continuation bytes
  return double(std::max(cps, 1L));
}

TokenPair encode_pair(const Tokenizer& tok, std::string_view context, std::string_view continuation, bool add_bos) {
  // HFLM._encode_pair: n_spaces = len(context) - len(context.rstrip()); those
  // characters move to the continuation, then
  //   whole_enc = encode(context + continuation); context_enc = encode(context)
  //   continuation_enc = whole_enc[len(context_enc):]
  const size_t end = context.find_last_not_of(" \t\n\r\v\f");
  const size_t keep = end == std::string_view::npos ? 0 : end + 1;
  std::string ctx(context.substr(0, keep));
  std::string cont = std::string(context.substr(keep)) + std::string(continuation);
  TokenPair p;
  p.context = tok.encode(ctx, add_bos);
  std::vector<int> whole = tok.encode(ctx + cont, add_bos);
  if (whole.size() > p.context.size()) p.continuation.assign(whole.begin() + long(p.context.size()), whole.end());
  return p;
}

McRequest tokenize_example(const Tokenizer& tok, const McExample& ex, bool add_bos) {
  McRequest r;
  r.label = ex.label;
  for (size_t i = 0; i < ex.continuations.size(); ++i) {
    r.choices.push_back(encode_pair(tok, ex.context_for(i), ex.continuations[i], add_bos));
    r.norm_len.push_back(choice_norm_length(ex.continuations[i]));
  }
  return r;
}

std::vector<double> score_choices(const Model& m, std::span<const TokenPair> choices, int max_len) {
  SLIM_CHECK(!choices.empty(), "no choices to score");
  if (max_len <= 0) max_len = m.config.max_seq_len;
  int cap = 1;
  for (const auto& p : choices) cap = std::max(cap, input_length(p, max_len));
  ChoiceScorer s(m, cap);
  long fw = 0, un = 0;
  bool tr = false;
  return s.score(choices, max_len, fw, un, tr);
}

McResult evaluate_requests(const Model& m, std::span<const McRequest> reqs, const ZeroShotOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opt.limit >= 0 && size_t(opt.limit) < reqs.size()) reqs = reqs.first(size_t(opt.limit));
  const int max_len = opt.max_len > 0 ? std::min(opt.max_len, m.config.max_seq_len) : m.config.max_seq_len;
  McResult r;
  r.n = int(reqs.size());
  SLIM_CHECK(r.n > 0, "no examples to evaluate");
  int cap = 1;  // the KV cache only needs the longest input of the task
  for (const auto& q : reqs) {
    SLIM_CHECK(q.choices.size() >= 1 && q.choices.size() == q.norm_len.size(), "malformed request");
    SLIM_CHECK(q.label >= 0 && q.label < int(q.choices.size()), "gold label {} outside 0..{}", q.label,
               q.choices.size() - 1);
    for (size_t k = 0; k < q.choices.size(); ++k) {
      SLIM_CHECK(!q.choices[k].continuation.empty(),
                 "example {}: choice {} encodes to no tokens; an empty answer would score 0 and always win", &q - reqs.data(), k);
      cap = std::max(cap, input_length(q.choices[k], max_len));
    }
  }
  r.examples.resize(size_t(r.n));
  Progress prog(opt.label, r.n, opt.progress);
  int done = 0, hits = 0, hits_norm = 0;
  long fw_total = 0, un_total = 0;
  auto one = [&](ChoiceScorer& s, int i) {
    const McRequest& q = reqs[size_t(i)];
    ExampleScore e;
    long fw = 0, un = 0;
    e.loglik = s.score(q.choices, max_len, fw, un, e.truncated);
    for (double v : e.loglik)
      SLIM_CHECK(std::isfinite(v), "example {}: non-finite log-likelihood (NaN/Inf in the weights?)", i);
    std::vector<double> normed(e.loglik.size());
    for (size_t k = 0; k < normed.size(); ++k) normed[k] = e.loglik[k] / q.norm_len[k];
    e.pred = argmax_first(e.loglik);
    e.pred_norm = argmax_first(normed);
#pragma omp critical(slim_zeroshot_record)
    {
      hits += e.pred == q.label;
      hits_norm += e.pred_norm == q.label;
      fw_total += fw;
      un_total += un;
      r.examples[size_t(i)] = std::move(e);
      ++done;
      prog.update(done, fmt::format("acc {:.4f}  acc_norm {:.4f}", double(hits) / done, double(hits_norm) / done));
    }
  };
  // Small models: one example per thread (their GEMMs are too small to
  // split); large ones: examples in order, each parallel inside BLAS. The
  // numbers are the same either way.
  const bool per_thread = int64_t(m.config.dim) * m.config.hidden_dim <= (1 << 20);
  if (per_thread) {
    std::exception_ptr err;
#pragma omp parallel
    {
      ChoiceScorer s(m, cap);
#pragma omp for schedule(dynamic)
      for (int i = 0; i < r.n; ++i) {
        try {
          one(s, i);
        } catch (...) {
#pragma omp critical(slim_zeroshot_error)
          if (!err) err = std::current_exception();
        }
      }
    }
    if (err) std::rethrow_exception(err);
  } else {
    ChoiceScorer s(m, cap);
    for (int i = 0; i < r.n; ++i) one(s, i);
  }
  // Aggregate in example order: deterministic whatever the schedule.
  int acc = 0, acc_norm = 0;
  for (size_t i = 0; i < r.examples.size(); ++i) {
    acc += r.examples[i].pred == reqs[i].label;
    acc_norm += r.examples[i].pred_norm == reqs[i].label;
    r.truncated += r.examples[i].truncated;
  }
  r.acc = double(acc) / r.n;
  r.acc_norm = double(acc_norm) / r.n;
  r.acc_stderr = mean_stderr(r.acc, r.n);
  r.acc_norm_stderr = mean_stderr(r.acc_norm, r.n);
  r.tokens_forwarded = fw_total;
  r.tokens_unshared = un_total;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  prog.finish(fmt::format("acc {:.4f}  acc_norm {:.4f}", r.acc, r.acc_norm));
  return r;
}

McResult evaluate_mc(const Model& m, const Tokenizer& tok, std::span<const McExample> examples,
                     const ZeroShotOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opt.limit >= 0 && size_t(opt.limit) < examples.size()) examples = examples.first(size_t(opt.limit));
  std::vector<McRequest> reqs;
  reqs.reserve(examples.size());
  for (const auto& ex : examples) reqs.push_back(tokenize_example(tok, ex, opt.add_bos));
  McResult r = evaluate_requests(m, reqs, opt);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace slim
