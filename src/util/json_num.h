// Checked numbers from JSON files (config.json, tokenizer.json, ...). A JSON
// number that becomes a size or an index goes through these: nlohmann's
// get<int>() wraps 4294967300 to 4, truncates 256.5 to 256 and reads `true` as
// 1, each a silently wrong model. Errors name the file, the field and the value.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string_view>

namespace slim {

// `v` as an integer in [lo, hi]. Accepts JSON integers and integral floats
// (2048.0); refuses fractions, booleans, strings and out-of-range values.
int64_t json_int(const nlohmann::json& v, std::string_view file, std::string_view field, int64_t lo, int64_t hi);

// `v` as a finite number in [lo, hi]; refuses booleans, strings, NaN/Inf.
double json_float(const nlohmann::json& v, std::string_view file, std::string_view field, double lo, double hi);

// obj[key] through json_int / json_float; a missing key or null gives `fallback`.
int64_t json_int_or(const nlohmann::json& obj, const char* key, int64_t fallback, std::string_view file, int64_t lo,
                    int64_t hi);
double json_float_or(const nlohmann::json& obj, const char* key, double fallback, std::string_view file, double lo,
                     double hi);

}  // namespace slim
