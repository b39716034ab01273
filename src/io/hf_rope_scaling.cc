#include "io/hf_rope_scaling.h"

#include "util/error.h"
#include "util/json_num.h"

namespace slim {

namespace {

struct TypeName {
  const char* name;
  RopeScalingType type;
};
constexpr TypeName kTypes[] = {{"default", RopeScalingType::None},
                               {"linear", RopeScalingType::Linear},
                               {"dynamic", RopeScalingType::Dynamic},
                               {"llama3", RopeScalingType::Llama3},
                               {"yarn", RopeScalingType::Yarn}};

std::string string_field(const nlohmann::json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  SLIM_CHECK(it->is_string(), "{}: field 'rope_scaling.{}' must be a string, got {}", path, key, it->dump());
  return it->get<std::string>();
}

}  // namespace

RopeScaling parse_rope_scaling(const nlohmann::json& j, const std::string& path) {
  RopeScaling s;
  if (j.is_null()) return s;
  SLIM_CHECK(j.is_object(), "{}: field 'rope_scaling' must be an object or null, got {} {}", path, j.type_name(),
             j.dump());
  // transformers reads "rope_type", older configs say "type".
  std::string type = string_field(j, "rope_type", path);
  if (type.empty()) type = string_field(j, "type", path);
  bool known = false;
  for (const auto& t : kTypes)
    if (type == t.name) {
      s.type = t.type;
      known = true;
    }
  std::string names;
  for (const auto& t : kTypes) names += (names.empty() ? "" : ", ") + std::string(t.name);
  SLIM_CHECK(known, "{}: rope_scaling type '{}' is not supported (supported: {})", path, type, names);
  if (s.type == RopeScalingType::None) return s;

  const std::string f = "rope_scaling";
  auto num = [&](const char* key, double fallback, double lo, double hi) {
    return json_float_or(j, key, fallback, path + ": " + f, lo, hi);
  };
  const bool needs_factor = s.type != RopeScalingType::Yarn;  // yarn may derive it from the contexts
  SLIM_CHECK(!needs_factor || j.contains("factor"), "{}: rope_scaling type '{}' needs a 'factor'", path, type);
  s.factor = num("factor", 0, 1e-6, 1e6);
  s.original_max_pos = int(json_int_or(j, "original_max_position_embeddings", 0, path + ": " + f, 1, 1 << 24));
  if (s.type == RopeScalingType::Llama3) {
    SLIM_CHECK(s.original_max_pos > 0, "{}: rope_scaling type 'llama3' needs 'original_max_position_embeddings'",
               path);
    s.low_freq_factor = num("low_freq_factor", 1, 1e-6, 1e6);
    s.high_freq_factor = num("high_freq_factor", 4, 1e-6, 1e6);
    SLIM_CHECK(s.high_freq_factor > s.low_freq_factor,
               "{}: rope_scaling high_freq_factor {} must exceed low_freq_factor {}", path, s.high_freq_factor,
               s.low_freq_factor);
  }
  if (s.type == RopeScalingType::Yarn) {
    s.beta_fast = num("beta_fast", 32, 1e-6, 1e6);
    s.beta_slow = num("beta_slow", 1, 1e-6, 1e6);
    s.mscale = num("mscale", 0, 0, 1e6);
    s.mscale_all_dim = num("mscale_all_dim", 0, 0, 1e6);
    s.attention_factor = num("attention_factor", 0, 0, 1e6);
    if (auto it = j.find("truncate"); it != j.end() && !it->is_null()) {
      SLIM_CHECK(it->is_boolean(), "{}: field 'rope_scaling.truncate' must be true or false, got {}", path,
                 it->dump());
      s.truncate = it->get<bool>();
    }
  }
  return s;
}

nlohmann::json rope_scaling_json(const RopeScaling& s) {
  if (s.type == RopeScalingType::None) return nullptr;
  nlohmann::json j = {{"rope_type", rope_scaling_name(s.type)}};
  if (s.factor > 0) j["factor"] = s.factor;
  if (s.original_max_pos > 0) j["original_max_position_embeddings"] = s.original_max_pos;
  if (s.type == RopeScalingType::Llama3) {
    j["low_freq_factor"] = s.low_freq_factor;
    j["high_freq_factor"] = s.high_freq_factor;
  }
  if (s.type == RopeScalingType::Yarn) {
    j["beta_fast"] = s.beta_fast;
    j["beta_slow"] = s.beta_slow;
    if (s.mscale > 0) j["mscale"] = s.mscale;
    if (s.mscale_all_dim > 0) j["mscale_all_dim"] = s.mscale_all_dim;
    if (s.attention_factor > 0) j["attention_factor"] = s.attention_factor;
    if (!s.truncate) j["truncate"] = false;
  }
  return j;
}

}  // namespace slim
