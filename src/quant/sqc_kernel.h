// SQC's inner search (sqc.h): over a row's candidate (scale, zero) pairs, the
// first with the smallest Σ weight_c |deq(w_c) − w_c|^2.4. Vectorised by hand
// with a runtime choice of AVX-512 (16 lanes) or AVX2 (2 x 8 lanes); both
// compute every element with the same operations and sum in the same fixed
// order (element c into lane c mod 16, lanes added in one fixed tree), so
// they return identical results (as does the 4-lane portable instance on
// aarch64). A candidate stops as soon as its partial
// sum can no longer win: the terms are >= 0 and rounded addition is
// monotone, so a partial sum never exceeds the full one and the answer is
// exactly the full search's (pruning changes the time, never the result).
#pragma once
#include <cstdint>
#include <vector>

namespace slim::sqc_kernel {

constexpr int64_t kLanes = 16;  // rows are padded to a multiple of this

// w, weight: (n) with n % kLanes == 0; the padding must be w = 0 (it adds
// exactly 0 under any candidate). weight == nullptr: all 1.
// scale, zero: (count) candidates, zero integer-valued in [0, maxq].
struct Row {
  const float* w;
  const float* weight;
  int64_t n;
};

// The search state: the smallest error so far and the lowest candidate index
// reaching it (index -1: none yet).
struct Best {
  float err = __builtin_inff();
  int index = -1;
};

// Updates *best with candidates j = 0..count-1 (scale[j], zero[j]) whose
// index is index[j] (nullptr: j). The winner, the lowest index among the
// smallest errors, does not depend on the order or on how the candidates are
// split over calls: callers may visit likely winners first so that pruning
// stops the others sooner. prune = false evaluates every candidate in full
// (the plain grid, for tests).
void best_candidate(const Row& row, const float* scale, const float* zero, const int* index, int count, float maxq,
                    bool prune, Best* best);

// The error of one candidate, full sum in the same order.
float row_error(const Row& row, float scale, float zero, float maxq);

// Which instruction set runs (tests compare all where the CPU allows).
// x86-64: kAvx2, kAvx512; other architectures (aarch64): kPortable, Highway's
// static target at 4 lanes (NEON), the same fixed summation order.
enum class Isa { kAvx2, kAvx512, kPortable };
bool avx512_supported();
std::vector<Isa> available_isas();  // built for this architecture and supported by this CPU
Isa active_isa();
void force_isa(Isa isa);  // throws slim::Error for kAvx512 on a CPU without it

// Counters of the last best_candidate calls on this thread (diagnostics).
struct Stats {
  int64_t candidates = 0, blocks = 0, blocks_full = 0;  // evaluated 16-blocks vs without pruning
};
Stats& thread_stats();

}  // namespace slim::sqc_kernel
