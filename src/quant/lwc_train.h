// SliM-LLM+'s block-wise training (OmniQuant's LWC loop with SliM's bit map;
// shared/docs/slim-llm-spec.md §6). Per decoder block, on every calibration
// window: the targets are the full-precision block's outputs on the
// full-precision inputs; the block with LWC-quantized weights (lwc.h) is fed
// the quantized prefix's outputs; loss = MSE (+ with aug_loss the MSE to the
// full-precision block's outputs on the quantized inputs); AdamW on the
// clipping logits only; fp32 throughout. Then the block is fake-quantized with
// the learned ranges and its outputs feed the next block.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "calib/dataset.h"
#include "model/weights.h"
#include "quant/bitmap.h"
#include "quant/pipeline.h"

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

// Quantizes every block linear of `m` in place. bitmap: the group widths of
// every linear. slim_params (execution order, as LinearQuantParams) and
// slim_model: SliM's result, read by init "slim" and weights "gptq" (may be
// null otherwise). params_out (optional): the learned parameters for packing.
// Returns {"blocks": [{"block", "loss": [per epoch], "final_loss", "seconds"}], ...}.
nlohmann::json lwc_train_model(Model& m, const CalibWindows& calib, const Bitmap& bitmap, const LwcTrainOptions& opt,
                               const std::vector<LinearQuantParams>* slim_params, const Model* slim_model,
                               std::vector<LinearQuantParams>* params_out);

// Method "slim+" of quantize_model: SliM-LLM (opt as for "slim") on a copy of
// `m` for the bit map (and SliM's ranges / weights when asked), then
// lwc_train_model on `m`. The report is SliM's with method "slim+" and an
// "lwc" section (loss curve per block).
nlohmann::json quantize_slim_plus(Model& m, const CalibWindows* calib, const QuantizeOptions& opt,
                                  Bitmap* bitmap_out);

}  // namespace slim
