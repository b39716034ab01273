// GPTQ with a linear's rows divided among the ranks (dist/comm.h). Rows are
// independent given the shared factor U (each row's error feedback reads
// only U and itself), so rank r quantizes rows [share_r) and the pieces are
// gathered as their codes (quant/row_codes.h): every rank ends with the
// whole result, the same as gptq_quantize on all rows (the loss summed in
// rank order). One rank: a plain gptq_quantize call.
#pragma once
#include "dist/comm.h"
#include "quant/gptq.h"

namespace slim {

// Replaces `f` on every rank by rank `root`'s, in two halves, so that U moves
// while the ranks compute something else (the factors built by all ranks
// together): start sends the size
// (waiting for the root to have built f) and starts the bytes; finish waits
// for them and fills f on the other ranks. Several may be in flight; every
// rank starts them in the same order. `f` must outlive the finish.
struct FactorBroadcast {
  GptqFactor* f = nullptr;
  int root = 0;
  std::vector<std::byte> bytes;
  dist::PendingBroadcast pending;
};
FactorBroadcast start_factor_broadcast(GptqFactor& f, int root);
void finish_factor_broadcast(FactorBroadcast& b);

// Which rank builds the factor of each of `dims` input sites (Cholesky cost
// ~dim³): the largest first, each to the least loaded rank.
std::vector<int> factor_owners(std::span<const int64_t> dims, int ranks);

// gptq_factor computed by all ranks together (dist/factor.h, ScaLAPACK):
// collective, every rank passes the same h and gets the same factor. Equal
// to gptq_factor's up to rounding (the fp64 arithmetic runs in another order);
// damp retries, dead columns and act-order as there. Needs
// dist::factor_over_ranks_available().
GptqFactor gptq_factor_over_ranks(std::span<const double> h, int64_t cols, const GptqOptions& opt, int block);
// The same from each rank's slice of H and the whole diagonal (what
// HessianAccumulator::reduce_over_ranks(kSliced) leaves): the same factor,
// bit for bit, with each rank receiving only the entries its piece needs.
GptqFactor gptq_factor_over_ranks(const dist::SymmetricSlice& slice, std::span<const double> h_diag, int64_t cols,
                                  const GptqOptions& opt, int block);

// Rank r's rows of a `rows`-row linear: a share of whole kGptqRowChunk-row
// chunks (the last may be short), so that every row meets the same GEMM
// calls as in one process. Ranks beyond the chunk count get none.
dist::Share gptq_row_share(int64_t rows, int r, int ranks);

GptqResult gptq_quantize_over_ranks(std::span<const float> w, int64_t rows, int64_t cols, const GptqFactor& factor,
                                    const GptqOptions& opt);

}  // namespace slim
