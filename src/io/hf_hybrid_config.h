// config.json keys of models whose layers mix sliding-window ("local") and
// global attention, with scaled embeddings and soft-capped logits: Gemma-2
// and Gemma-3 (arch.h HfHybridKeys gives each family's keys and defaults).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "model/arch.h"

namespace slim {

// Reads the per-layer attention types, window, attention scalar, soft-caps,
// local RoPE base and embedding scale into `c` (whose n_layers and dim are
// already read). Errors name `path` and the field.
void parse_hybrid_config(const nlohmann::json& j, const HfHybridKeys& k, const std::string& path, ModelConfig& c);

// Writes the same keys into `cfg` (config.json of a fake-quantized or packed
// output), so they reload as they were.
void write_hybrid_config(const ModelConfig& c, const HfHybridKeys& k, nlohmann::json& cfg);

}  // namespace slim
