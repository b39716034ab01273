// config.json's "rope_scaling" object <-> RopeScaling (model/rope_scaling.h).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "model/rope_scaling.h"

namespace slim {

// `j`: the rope_scaling value (null or an object). Unknown types ("longrope",
// "mrope", ...) and out-of-range numbers are refused, naming `path` and the field.
RopeScaling parse_rope_scaling(const nlohmann::json& j, const std::string& path);

// The object to write back (null for none), so a fake-quantized or packed
// output keeps its source's scaling.
nlohmann::json rope_scaling_json(const RopeScaling& s);

}  // namespace slim
