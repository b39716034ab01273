// Salience-determined bit allocation (SBA, spec §2.2-2.3).
//
// For a target of N bits, every group of a linear gets N-1, N or N+1 bits:
// the k lowest-salience groups go down to N-1, the k highest go up to N+1,
// the rest stay at N. k is chosen by the KL search: for every candidate k,
// Wq_k = round-to-nearest (min-max per row and group, binary-with-mean for
// 1-bit) of the ORIGINAL weights with those bits, and
//   KL(k) = Σ_tokens KL( softmax(x Wq_kᵀ) || softmax(x Wᵀ) )
// with the softmax over the output features of each token (no bias: the
// reference's OPT bias quirk is not reproduced). k* = argmin, first on ties.
//
// Candidates: k ∈ {0 (uniform N), 1, …, floor(M/2)-1}, M the number of
// movable groups. `faithful` drops k = 0 (the reference never keeps a layer
// uniform) and clamps both softmaxes at 1e-6 as reference.kl_div does. When
// the range is empty (M ≤ 3 in faithful mode, where the reference crashes) the
// layer stays uniform with an empty KL curve.
//
// Short last group (cols % group_size != 0): it never moves and is not ranked
// (it stays at N). Moving it would make the bits-per-weight average differ
// from N by ±(gs − width)/cols, and the storage accounting (bits.h) is per
// weight; keeping it fixed keeps the average exactly N for every shape, at the
// cost of one group not taking part (the reference never meets this case: the
// LLaMA/OPT widths are multiples of 128).
//
// Cost: the candidates differ by two groups from one k to the next, so
// Y_k − Y_fp = X (Wq_k − W)ᵀ is kept incrementally per token chunk: two full
// GEMMs (X Wᵀ and X (Wq_0 − W)ᵀ) plus one rank-2·gs update per candidate,
// i.e. ~3 full GEMMs per chunk whatever the number of candidates; the group
// RTNs are computed once per layer, never per sample. The KL of each token is
// exact in log-sum-exp form, fp64 accumulation:
//   KL = E_{p_q}[d] − (lse(y_q) − lse(y_fp)),  d = y_q − y_fp.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace slim {

// One calibration block of the linear's input: (tokens, in) row-major.
struct ActivationBlock {
  const float* x = nullptr;
  int64_t tokens = 0;
};

struct SbaOptions {
  int bits = 2;          // target N (2..7: groups use N-1..N+1 within 1..8)
  int group_size = 128;  // -1: one group per row (nothing to move)
  bool faithful = false; // k ≥ 1 only, softmax clamped at 1e-6 (reference.kl_div)
  int token_stride = 1;  // use every s-th token (global index over all blocks, token 0 first)
  int64_t chunk_tokens = 256;  // tokens per GEMM chunk (bounds memory at chunk·rows floats x2)
};

struct SbaResult {
  int k = 0;                    // chosen k* (0: uniform)
  std::vector<int> group_bits;  // (n_groups) bits per group for k*
  int k_first = 0;              // candidate of kl[0]: 0, or 1 in faithful mode
  std::vector<double> kl;       // (candidates) KL summed over the tokens used, kl[i] is k = k_first + i;
                                //  empty when there was nothing to choose (0 or 1 candidate: that one
                                //  is taken, or k = 0 for an empty range, without reading activations)
  int64_t tokens_used = 0;
};

// The candidate k range [k_first, k_last] for a layer; empty when k_last < k_first.
struct SbaRange {
  int k_first = 0, k_last = -1;
  int count() const { return k_last >= k_first ? k_last - k_first + 1 : 0; }
};
SbaRange sba_candidates(int64_t cols, int group_size, bool faithful);

// Number of groups that may move (full-width groups).
int64_t sba_movable_groups(int64_t cols, int group_size);

// Bits per group for a given k: the k lowest-salience full groups at bits-1,
// the k highest at bits+1 (ranked by ascending salience, ties by group index),
// everything else (and a short last group) at `bits`. salience: (n_groups).
// Throws slim::Error when 2k exceeds the movable groups or bits is out of range.
std::vector<int> sba_assign(std::span<const double> salience, int bits, int k, int64_t cols, int group_size);

// The KL search, streaming: the candidates are built once in the constructor,
// then add() takes the linear's calibration inputs in any number of pieces
// (e.g. one call per calibration window from a forward hook, so nothing has
// to be stored), and finish() returns k*. The KL sums are additive over
// tokens, so the split into calls does not matter (beyond rounding).
// `w` is referenced, not copied: it must stay alive and unchanged until
// finish(). Memory: ~2x the fp32 weight (candidate deltas) plus
// chunk_tokens·(cols + 2·rows) floats.
class SbaSearch {
 public:
  // Throws slim::Error on bad shapes/options or non-finite weights/salience.
  SbaSearch(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> salience,
            const SbaOptions& opt);
  ~SbaSearch();
  SbaSearch(SbaSearch&&) noexcept;
  SbaSearch& operator=(SbaSearch&&) noexcept;
  // False when there is nothing to choose (0 or 1 candidate): add() is a no-op.
  bool needs_activations() const;
  // x: (tokens, cols). Every token_stride-th token by global index over all
  // calls (token 0 first) is used. Non-finite activations are an error.
  void add(const float* x, int64_t tokens);
  int64_t tokens_used() const;
  // Flushes the pending chunk and returns the result (may be called again
  // after more add() calls). Throws when a search was needed but no token came.
  SbaResult finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The KL search in one call. w: (rows, cols) original weights; salience: (n_groups) group
// salience (compute_salience); acts: the linear's calibration inputs, each
// (tokens, cols). Tokens with non-finite activations are an error.
SbaResult sba_search(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> salience,
                     std::span<const ActivationBlock> acts, const SbaOptions& opt);

}  // namespace slim
