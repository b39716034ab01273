// SliM-LLM+'s block-wise training (OmniQuant's LWC loop with SliM's bit map;
// shared/docs/slim-llm-spec.md §6), as the per-block step of the streaming
// driver (calib/sequential.h, run by quant/pipeline.cc): for block l the
// driver has the Hessians of the quantized prefix's activations (SliM's bit
// map comes from them), the quantized-prefix inputs and the full-precision
// block's outputs on the full-precision stream. On every calibration window:
// targets = those full-precision outputs; the block with LWC-quantized
// weights (lwc.h) is fed the quantized-prefix inputs; loss = MSE (+ with
// aug_loss the MSE to the full-precision block's outputs on the quantized
// inputs); AdamW on the clipping logits only; fp32 throughout. Then the block
// is fake-quantized with the learned ranges; the driver propagates it.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "calib/sequential.h"
#include "model/weights.h"
#include "quant/bitmap.h"
#include "quant/pipeline.h"
#include "util/memory.h"

namespace slim {

struct LwcTrainOptions {
  int epochs = 50;                 // spec §6 (2-bit); measured: 20 -> 26.65, 50 -> 25.31 (docs/RESULTS.md)
  float lr = 1e-2f;
  float weight_decay = 0.f;
  bool aug_loss = false;
  int batch = 1;                   // windows per AdamW step
  std::string init = "minmax";     // minmax (γ = β = 4) | slim (SliM's SQC ranges)
  std::string weights = "raw";     // raw (original weights) | gptq (SliM's GPTQ-updated weights)
  bool progress = true;
};

// The training options of a QuantizeOptions (its -1 / "" mean the defaults above).
LwcTrainOptions lwc_train_options(const QuantizeOptions& q);

// Which calibration windows rank `rank` of `ranks` holds for SliM-LLM+:
// every AdamW step (windows [s, s + batch) of n) is divided among the ranks
// (dist::share_of), so each step's gradient is a sum over all ranks and one
// rank holds its part of every step, not a contiguous share of the windows.
// Returns the global indices in the order held; step_local[k] .. step_local[k
// + 1] are the positions of step k's windows in it. The driver holds the
// activations in this order (SequentialOptions::windows).
std::vector<int64_t> lwc_rank_windows(int64_t n, int batch, int rank, int ranks, std::vector<int64_t>* step_local);

// SliM's result for one linear (computed on a copy: the block keeps its
// original weights for training), for init "slim" and weights "gptq".
struct SlimLinearResult {
  std::vector<QuantParams> params;  // (rows, groups)
  std::vector<float> q;             // (rows, cols) GPTQ-updated, fake-quantized weights
};

// Trains block `layer` (its linears fp32, original weights) on this rank's
// windows of `streams` (n windows over all ranks) and fake-quantizes it in
// place. slim: per linear in execution order, or empty unless init "slim" /
// weights "gptq". params_out (optional) receives the learned parameters.
// Returns {"block", "loss": [per epoch], "final_mse", "parameters", "seconds"}.
nlohmann::json lwc_train_block(const ModelConfig& c, int layer, BlockWeights& b, const BlockStreams& streams,
                               int64_t n, const Bitmap& bitmap, const std::vector<SlimLinearResult>& slim,
                               const LwcTrainOptions& opt, std::vector<LinearQuantParams>* params_out);

// What lwc_train_block allocates beyond the driver's buffers (windows_here: this rank's windows).
MemoryNeed lwc_train_memory(const ModelConfig& c, int64_t windows_here, int seqlen, int group_size,
                            const LwcTrainOptions& opt);

}  // namespace slim
