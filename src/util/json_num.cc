#include "util/json_num.h"

#include <cmath>

#include "util/error.h"

namespace slim {

namespace {
// The value as the file wrote it, cut short so a huge array stays readable.
std::string shown(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}
}  // namespace

int64_t json_int(const nlohmann::json& v, std::string_view file, std::string_view field, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    SLIM_CHECK(u <= uint64_t(INT64_MAX) && int64_t(u) >= lo && int64_t(u) <= hi,
               "{}: field '{}' = {} is outside {}..{}", file, field, shown(v), lo, hi);
    return int64_t(u);
  }
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    SLIM_CHECK(x >= lo && x <= hi, "{}: field '{}' = {} is outside {}..{}", file, field, shown(v), lo, hi);
    return x;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    SLIM_CHECK(std::isfinite(d) && d == std::floor(d), "{}: field '{}' = {} must be a whole number", file, field,
               shown(v));
    SLIM_CHECK(d >= double(lo) && d <= double(hi), "{}: field '{}' = {} is outside {}..{}", file, field, shown(v),
               lo, hi);
    return int64_t(d);
  }
  fail("{}: field '{}' must be an integer, got {} {}", file, field, v.type_name(), shown(v));
}

double json_float(const nlohmann::json& v, std::string_view file, std::string_view field, double lo, double hi) {
  SLIM_CHECK(v.is_number(), "{}: field '{}' must be a number, got {} {}", file, field, v.type_name(), shown(v));
  const double d = v.get<double>();
  SLIM_CHECK(std::isfinite(d) && d >= lo && d <= hi, "{}: field '{}' = {} is outside {}..{}", file, field, shown(v),
             lo, hi);
  return d;
}

int64_t json_int_or(const nlohmann::json& obj, const char* key, int64_t fallback, std::string_view file, int64_t lo,
                    int64_t hi) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  return json_int(*it, file, key, lo, hi);
}

double json_float_or(const nlohmann::json& obj, const char* key, double fallback, std::string_view file, double lo,
                     double hi) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  return json_float(*it, file, key, lo, hi);
}

}  // namespace slim
