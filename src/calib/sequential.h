// The block-by-block calibration driver (GPTQ's llama_sequential):
//   capture the inputs of block 0 for every calibration window; then per block
//   (1) run it on all windows with the ORIGINAL weights, accumulating one
//       Hessian per input site (q/k/v share one, gate/up share one);
//   (2) quantize every linear of the block from those Hessians (all from the
//       same un-quantized block inputs, as the reference does);
//   (3) run the block again with the quantized weights: its outputs are the
//       next block's inputs, so each block sees the quantized prefix.
// Only one block's activations live in memory (fp32, or fp16 to halve it).
// A method that trains a block against the full-precision model (SliM-LLM+)
// asks for a second, reference stream: the windows' activations through the
// ORIGINAL blocks, propagated before the block is quantized, so its hook reads
// the full-precision block's outputs as targets. The driver owns both streams,
// the ranks' windows and the checkpoints; the method only sees per-linear and
// per-block callbacks.
#pragma once
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "calib/dataset.h"
#include "calib/hessian.h"
#include "model/weights.h"
#include "util/memory.h"

namespace slim {

// Inputs seen by one input site during the Hessian pass, kept only when asked
// (SBA scores bit allocations on them): every `stride`-th token of every window.
struct CapturedInputs {
  int64_t dim = 0;
  std::vector<float> x;  // (tokens, dim)
  int64_t tokens() const { return dim ? int64_t(x.size()) / dim : 0; }
};

struct LinearJob {
  int layer;
  const char* name;         // "q_proj", ...
  Linear* linear;           // replace linear->w with the quantized weights
  const HessianAccumulator* hessian;  // of this linear's input site
  const CapturedInputs* inputs;       // nullptr unless SequentialOptions::capture_stride > 0
  // Every input site's accumulator of this block (q/k/v, o, gate/up, down),
  // for work that is divided among ranks by site.
  std::span<const HessianAccumulator> block_sites = {};
};

// Quantizes one linear in place; returns a JSON-able report line.
using QuantizeLinearFn = std::function<void(LinearJob& job)>;

// This rank's activations of the block being quantized, for a block hook.
struct BlockStreams {
  int64_t windows = 0;  // this rank's windows (SequentialOptions::windows order)
  int seqlen = 0;
  // (seqlen, dim): window i's inputs to the block (the quantized prefix's outputs).
  std::function<void(int64_t i, float* out)> inputs;
  // (seqlen, dim): the ORIGINAL block's outputs on the full-precision stream
  // (SequentialOptions::reference_stream only; empty otherwise).
  std::function<void(int64_t i, float* out)> reference;
};

// Runs after every linear's QuantizeLinearFn and before propagation; it may
// replace the block's weights (slim+ trains and fake-quantizes them here).
using FinishBlockFn = std::function<void(int layer, BlockWeights& block, const BlockStreams& streams)>;

// Where one block's time went (seconds), for the report.
struct BlockTimes {
  int layer = 0;
  double hessian_pass = 0;  // forward with the original weights, Hessian accumulation included
  double hessian_add = 0;   //   of which accumulating the Hessians (syrk)
  double quantize = 0;      // every linear's quantizer (factor, allocation, GPTQ, SQC)
  double propagate = 0;     // forward with the quantized weights
  double reference = 0;     // reference stream: forward with the original weights (slim+)
  double block_done = 0;    // the caller's block_done (writing the shard, the checkpoint)
  // Several ranks (dist/comm.h): combining the Hessians (and SBA's tokens);
  // this rank's payload bytes over the block (the factors and the quantized
  // rows included; each rank checkpoints its own windows, so nothing is
  // gathered for the checkpoint).
  double reduce = 0;
  double comm_sent_bytes = 0, comm_received_bytes = 0;
  // Of comm_received_bytes: the fp64 summands that came packed (dist/wire_pack.h),
  // as fp64 and as packed; the seconds packing and unpacking them.
  double comm_packed_raw_bytes = 0, comm_packed_bytes = 0, comm_pack_seconds = 0;
  double forward_gflop = 0; // one forward pass over all windows (linears + attention), GFLOP
  double hessian_pass_gflop = 0;  // the Hessian pass's share (no down_proj product), syrk excluded
};

struct SequentialOptions {
  bool fp16_activations = false;
  std::string scratch_dir;  // non-empty: activations in a memory-mapped scratch file there
  int capture_stride = 0;  // > 0: keep every n-th token of each linear input (for SBA)
  bool progress = true;
  // Keep the full-precision reference stream beside the quantized one (BlockStreams::reference).
  bool reference_stream = false;
  // Global indices of the calibration windows this rank runs, in the order it
  // holds them; empty: the contiguous share dist::my_share (window order).
  // SliM-LLM+ gives each rank its part of every training step instead
  // (lwc_rank_windows, quant/lwc_train.h). Every window must be on exactly one
  // rank. With several ranks each checkpoints its own windows (its part of
  // the checkpoint, calib/checkpoint.h); the fingerprint records the number
  // of ranks, so a resume sees the same lists.
  std::vector<int64_t> windows;
  FinishBlockFn finish_block;  // optional
  // Called on every rank when block `layer` is final (quantized and
  // propagated): the caller may write it out and release its weights.
  // `next_inputs` are the raw activations this rank's windows feed block
  // layer + 1 (fp32 or fp16, as stored), what a checkpoint needs to resume
  // there; `next_reference` the reference stream's (empty without
  // reference_stream).
  std::function<void(int layer, std::span<const std::byte> next_inputs, std::span<const std::byte> next_reference)>
      block_done;
  // Resume: blocks before start_block are done; load_inputs (and
  // load_reference with reference_stream) fill this rank's raw activations of
  // block start_block's inputs (the bytes its block_done gave).
  int start_block = 0;
  std::function<void(std::span<std::byte> inputs)> load_inputs;
  std::function<void(std::span<std::byte> reference)> load_reference;
  std::vector<BlockTimes>* times = nullptr;  // receives one entry per block run
  // Several ranks: which rank needs each of the block's four input sites'
  // Hessian sums (HessianAccumulator::kEveryRank: all of them), by site
  // (q/k/v, o, gate/up, down). Each sum goes only where it is needed, about
  // half the bytes of summing it on every rank. Unset: every rank.
  std::function<std::vector<int>(std::span<const HessianAccumulator> sites)> hessian_roots;
  // How the ranks' partial Hessian sums travel (dist/comm.h; --hessian-wire).
  dist::Wire hessian_wire = dist::Wire::kFp64;
};

// What run_sequential (and the GPTQ-family quantizers it drives) allocates for
// `nsamples` windows of `seqlen` tokens: the activation store, the Hessians,
// the quantizer's working copies, the captured inputs and one block's buffers.
MemoryNeed sequential_memory(const ModelConfig& c, int64_t nsamples, int64_t seqlen, const SequentialOptions& opt);

void run_sequential(Model& m, const CalibWindows& calib, const QuantizeLinearFn& quantize,
                    const SequentialOptions& opt);

}  // namespace slim
