// Quantizing a whole model: RTN needs no data; GPTQ, SliM-LLM and SliM-LLM+
// run the block-sequential calibration pipeline (calib/sequential.h; slim+
// as a per-block training hook with a second, full-precision stream). Every linear of every decoder
// block is quantized (embeddings, norms and the head stay in full precision,
// as in GPTQ and SliM-LLM). The result is the fake-quantized model plus a
// JSON report.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "calib/dataset.h"
#include "model/weights.h"
#include "quant/bitmap.h"
#include "quant/quantizer.h"
#include "util/memory.h"

namespace slim {

// The quantizer's parameters of one linear, recorded for the packed format
// (the codes follow from them and the fake-quantized weights).
struct LinearQuantParams {
  int layer = 0;
  std::string name;                 // "q_proj", ... (HF names)
  int group_size = 0;               // as quantized; -1: one group per row
  std::vector<int> group_bits;      // (n_groups)
  std::vector<QuantParams> params;  // (rows, n_groups)
};

struct QuantizeOptions {
  std::string method = "gptq";  // rtn | gptq | slim | slim+
  int bits = 4;
  int group_size = 128;         // -1: per row
  double damp = 0.01;
  bool act_order = false;
  bool static_groups = false;
  bool fp16_activations = false;
  std::string scratch_dir;  // calibration activations in a memory-mapped file there (--scratch)
  // Several ranks with ScaLAPACK: the GPTQ factor of an input site at least
  // this wide is built by all ranks together (dist/factor.h), narrower ones by
  // one rank each. The result differs from one rank's by rounding only.
  int64_t dist_factor_min = 8192;
  int dist_factor_block = 64;  // its block-cyclic block size
  // Several ranks: the partial Hessian sums sent as fp64 (the result equals
  // one rank's up to the reassociation of the sums) or fp32 (half of the
  // largest message of a block; each summand rounded once: dist/comm.h).
  std::string hessian_wire = "fp64";
  bool progress = true;
  // SliM-LLM (method "slim"): GPTQ + salience-determined bit allocation (SBA)
  // + salience-weighted quantizer calibration (SQC).
  bool sba = true;
  bool sqc = true;
  bool faithful = false;       // reproduce the reference's choices (k >= 1, absolute salience damp);
                               // needs sba_criterion "kl", sqc_p_min 0.9, sqc_binary_iters 0
  double sqc_lambda = 1.0;     // weight of salient elements in SQC's error
  double sqc_p_min = 0.5;      // SQC range factors go down to this (reference: 0.9), sqc.h
  int sqc_binary_iters = 4;    // 1-bit groups: Lloyd rounds (0: the reference's binary-with-mean), sqc.h
  // SQC visiting order (SqcPlan, sqc.h): 0 grid order, k >= 2 every k-th
  // first. 5 with refine "all" gives the grid's exact answer with tighter
  // pruning (~12% fewer blocks on 128-wide rows, none saved at g16).
  int sqc_coarse = 5;
  // With sqc_coarse: "all" (exact), "local" (approximate) or "auto" (exact for
  // 2-bit groups, local for wider ones), sqc.h SqcOptions::local_min_bits.
  // "default": auto at 3 bits, all otherwise. Measured (docs/RESULTS.md): at 3
  // bits auto keeps perplexity (8.613 vs 8.677 over seeds 0-3) and cuts SQC's
  // time 2.7x, which brings SliM under 1.5x GPTQ; at 2 and 4 bits it cost
  // 2.3% and 1.0%, so those stay exact.
  std::string sqc_refine = "default";
  int sba_token_stride = 0;    // 0: automatic (about 8k tokens per layer)
  // How SBA scores allocations: "kl" (the published KL search, sba.h) or an
  // error estimate per group and width, "obs" / "hessian" (alloc.h).
  // "hessian" is the default: as accurate as "kl" on stories260K and needs no
  // activations (docs/RESULTS.md, issue 4).
  std::string sba_criterion = "hessian";
  int sba_max_up = 1;          // error criteria: widths up to N + max_up (1 or 2)
  // Error criteria: "layer" (each linear averages N), "site" (the linears of one
  // input share one width per column group: SBA on a fused q|k|v / gate|up
  // matrix), "depth" or "model" (one budget per linear kind / for the model).
  std::string sba_scope = "layer";
  // Model scope: how linears' errors are made comparable: "none" (raw output
  // error) or "output" (divided by the linear's output energy tr(W H Wᵀ)).
  std::string sba_normalize = "output";
  const Bitmap* bitmap = nullptr;  // reuse a saved allocation instead of searching
  // SliM-LLM+ (method "slim+"): SliM's bit map (and, by option, its ranges or
  // GPTQ-updated weights) then OmniQuant's learnable clipping trained per block
  // (quant/lwc_train.h; the defaults are documented there).
  int lwc_epochs = -1;          // -1: the LwcTrainOptions default
  float lwc_lr = 1e-2f;
  bool lwc_aug_loss = false;
  int lwc_batch = 1;
  std::string lwc_init = "";    // "": the LwcTrainOptions default
  std::string lwc_weights = "";
  // When set, receives every linear's parameters in execution order (for
  // packing). Needs contiguous groups: not --act-order without --static-groups.
  std::vector<LinearQuantParams>* params_out = nullptr;
  // Called when decoder block `layer` is final (every method): the caller may
  // write it out and release it, and checkpoint the state (report lines, bit
  // map, the next block's inputs; no inputs for rtn; slim+ also the
  // full-precision stream and its training records).
  static inline const nlohmann::json kNoBlocks = nlohmann::json::array();
  struct BlockState {
    const nlohmann::json& layers;             // report lines of blocks 0..layer
    const Bitmap& bitmap;                     // slim, slim+: allocations of blocks 0..layer
    std::span<const std::byte> next_inputs;   // calibration activations entering block layer + 1
    std::span<const std::byte> next_reference = {};  // slim+: the full-precision stream's, ditto
    const nlohmann::json& blocks = kNoBlocks;        // slim+: training records of blocks 0..layer
  };
  std::function<void(int layer, const BlockState& state)> block_done;
  // Resume from a checkpoint: blocks before start_block are done (already
  // written by the caller); their report lines, bit-map entries (and slim+'s
  // training records) are taken over, load_inputs (and for slim+
  // load_reference) fill the inputs of block start_block (gptq, slim, slim+).
  struct Resume {
    int start_block = 0;
    nlohmann::json layers = nlohmann::json::array();
    Bitmap bitmap;
    nlohmann::json blocks = nlohmann::json::array();
    std::function<void(std::span<std::byte> inputs)> load_inputs;
    std::function<void(std::span<std::byte> reference)> load_reference;
  };
  const Resume* resume = nullptr;
};

// Quantizes `m` in place. `calib` is ignored by RTN. Returns the report:
// {"layers": [...], "totals": {...}}.
// For methods "slim" and "slim+", `bitmap_out` (if given) receives the allocation used.
// Checks every option of `opt` that needs no model (bits, group size, method, SliM's and
// SliM+'s settings); errors name the command-line option. quantize_model runs it first;
// `slim quantize` runs it before it loads the model, so a bad option fails in milliseconds,
// not after a model load and a calibration pass.
void validate_quantize_options(const QuantizeOptions& opt);

// The large buffers quantize_model will allocate for `nsamples` windows of
// `seqlen` tokens (empty for RTN), for the up-front check.
MemoryNeed quantize_memory(const ModelConfig& c, int nsamples, int seqlen, const QuantizeOptions& opt);

nlohmann::json quantize_model(Model& m, const CalibWindows* calib, const QuantizeOptions& opt,
                              Bitmap* bitmap_out = nullptr);

}  // namespace slim
