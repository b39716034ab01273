#include "eval/perplexity.h"

#include <chrono>
#include <cmath>
#include <exception>

#include "model/forward.h"
#include "util/error.h"
#include "util/progress.h"

namespace slim {

namespace {

// Runs the model over one chunk and returns the mean NLL of its T-1 next-token
// predictions. The head is applied in row tiles so a 32k vocabulary never
// needs a (T, vocab) logits matrix.
class ChunkScorer {
 public:
  ChunkScorer(const Model& m, int T) : m_(m), T_(T) {
    const ModelConfig& c = m.config;
    rope_.build(c, T);
    x_.resize(size_t(T) * c.dim);
    k_.resize(size_t(T) * c.kv_dim());
    v_.resize(size_t(T) * c.kv_dim());
    logits_.resize(size_t(kTile) * c.vocab_size);
  }

  double mean_nll(std::span<const int> tok) {
    const ModelConfig& c = m_.config;
    const int T = int(tok.size());
    embed(m_, tok, x_.data());
    for (int l = 0; l < c.n_layers; ++l)
      block_forward(c, l, m_.weights.blocks[size_t(l)], rope_, x_.data(), T, 0, k_.data(), v_.data(), scratch_);
    double sum = 0;
    for (int t0 = 0; t0 < T - 1; t0 += kTile) {
      const int rows = std::min(kTile, T - 1 - t0);
      head_logits(m_, x_.data() + int64_t(t0) * c.dim, rows, logits_.data(), tmp_);
      double tile = 0;
#pragma omp parallel for reduction(+ : tile) schedule(static)
      for (int r = 0; r < rows; ++r) {
        const float* lg = &logits_[size_t(r) * c.vocab_size];
        float mx = lg[0];
        for (int i = 1; i < c.vocab_size; ++i) mx = std::max(mx, lg[i]);
        double se = 0;
        for (int i = 0; i < c.vocab_size; ++i) se += std::exp(double(lg[i] - mx));
        tile += std::log(se) + mx - lg[tok[size_t(t0 + r + 1)]];
      }
      sum += tile;
    }
    return sum / (T - 1);
  }

 private:
  static constexpr int kTile = 128;
  const Model& m_;
  int T_;
  RopeTable rope_;
  BlockScratch scratch_;
  std::vector<float> x_, k_, v_, logits_, tmp_;
};

}  // namespace

namespace {
// Small models: one chunk per thread (BLAS calls inside a parallel region run
// single-threaded), since their GEMMs are too small to split. Large models:
// chunks in order, each parallel inside. Same numbers either way.
bool chunk_per_thread(const ModelConfig& c) { return int64_t(c.dim) * c.hidden_dim <= (1 << 20); }
}  // namespace

MemoryNeed perplexity_memory(const ModelConfig& c, int seqlen, int threads) {
  const int64_t workers = chunk_per_thread(c) ? std::max(threads, 1) : 1;
  MemoryNeed need;
  need.add(fmt::format("forward buffers ({} x {} tokens)", workers, seqlen),
           workers * (block_activation_bytes(c, seqlen) + 4 * int64_t(seqlen) * c.dim));
  need.add("logit tiles", workers * 2 * 4 * 128 * int64_t(c.vocab_size));
  return need;
}

double sequence_nll(const Model& m, std::span<const int> tokens) {
  SLIM_CHECK(tokens.size() >= 2, "need at least 2 tokens to score");
  ChunkScorer s(m, int(tokens.size()));
  return s.mean_nll(tokens);
}

PplResult perplexity(const Model& m, std::span<const int> tokens, const PplOptions& opt) {
  SLIM_CHECK(opt.seqlen >= 2, "--seqlen must be at least 2, got {}", opt.seqlen);
  SLIM_CHECK(opt.seqlen <= m.config.max_seq_len, "--seqlen {} exceeds the model's context length {}", opt.seqlen,
             m.config.max_seq_len);
  PplResult r;
  r.tokens = long(tokens.size());
  r.seqlen = opt.seqlen;
  r.chunks = int(tokens.size() / size_t(opt.seqlen));
  if (opt.max_chunks >= 0) r.chunks = std::min(r.chunks, opt.max_chunks);
  SLIM_CHECK(r.chunks > 0, "the text has {} tokens, fewer than one chunk of {}", tokens.size(), opt.seqlen);
  auto t0 = std::chrono::steady_clock::now();
  Progress prog("ppl chunk", r.chunks, opt.progress);
  r.chunk_nll.assign(size_t(r.chunks), 0.0);
  const bool per_thread = chunk_per_thread(m.config);
  int done = 0;
  double running = 0;
  // Checked before record(), never inside it: an exception must not leave an
  // `omp critical` block (that is std::terminate, SIGABRT).
  auto check = [](int i, double nll) {
    SLIM_CHECK(std::isfinite(nll), "chunk {}: the model produced a non-finite loss (NaN/Inf in the weights?)", i);
    return nll;
  };
  auto record = [&](int i, double nll) {
    r.chunk_nll[size_t(i)] = nll;
    running += nll;
    ++done;
    prog.update(done, fmt::format("ppl so far {:.4f}", std::exp(running / done)));
  };
  if (per_thread) {
    std::exception_ptr err;
#pragma omp parallel
    {
      ChunkScorer scorer(m, opt.seqlen);
#pragma omp for schedule(dynamic)
      for (int i = 0; i < r.chunks; ++i) {
        try {
          const double nll = check(i, scorer.mean_nll(tokens.subspan(size_t(i) * opt.seqlen, size_t(opt.seqlen))));
#pragma omp critical
          record(i, nll);
        } catch (...) {
#pragma omp critical
          err = std::current_exception();
        }
      }
    }
    if (err) std::rethrow_exception(err);
  } else {
    ChunkScorer scorer(m, opt.seqlen);
    for (int i = 0; i < r.chunks; ++i)
      record(i, check(i, scorer.mean_nll(tokens.subspan(size_t(i) * opt.seqlen, size_t(opt.seqlen)))));
  }
  double sum = 0;
  for (double v : r.chunk_nll) sum += v;  // in chunk order: deterministic
  prog.finish();
  r.mean_nll = sum / r.chunks;
  r.ppl = std::exp(r.mean_nll);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace slim
