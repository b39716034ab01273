// Quantizing a whole model: RTN needs no data; GPTQ runs the block-sequential
// calibration pipeline (calib/sequential.h). Every linear of every decoder
// block is quantized (embeddings, norms and the head stay in full precision,
// as in GPTQ and SliM-LLM). The result is the fake-quantized model plus a
// JSON report.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "calib/dataset.h"
#include "model/weights.h"

namespace slim {

struct QuantizeOptions {
  std::string method = "gptq";  // rtn | gptq
  int bits = 4;
  int group_size = 128;         // -1: per row
  double damp = 0.01;
  bool act_order = false;
  bool static_groups = false;
  bool fp16_activations = false;
  bool progress = true;
};

// Quantizes `m` in place. `calib` is ignored by RTN. Returns the report:
// {"layers": [...], "totals": {...}}.
nlohmann::json quantize_model(Model& m, const CalibWindows* calib, const QuantizeOptions& opt);

}  // namespace slim
