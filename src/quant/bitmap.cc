#include "quant/bitmap.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "quant/quantizer.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_num.h"

namespace slim {

namespace {

using json = nlohmann::json;

constexpr const char* kFormat = "slim-bitmap";
constexpr int kVersion = 2;  // written only when a layer needs a v2 feature (below); v1 otherwise

// A layer needs version 2 when it uses what v1 readers would refuse: a model-
// scope budget, k_up != k, or a width above N+1.
bool needs_v2(const BitmapLayer& l) {
  if (l.scope != "layer" || l.up_count() != l.k) return true;
  for (int b : l.bits)
    if (b > l.target_bits + 1) return true;
  return false;
}

bool error_method(const std::string& m) { return m == "sba-obs" || m == "sba-hessian"; }

std::string layer_label(const BitmapLayer& l, size_t index) {
  return fmt::format("layer #{} (block {}, {})", index, l.block, l.name.empty() ? "<unnamed>" : l.name);
}

// The invariants of the format (bitmap.h); `where` prefixes every message.
void validate_layer(const BitmapLayer& l, const std::string& where) {
  SLIM_CHECK(l.block >= 0, "{}: block must be >= 0, got {}", where, l.block);
  SLIM_CHECK(!l.name.empty(), "{}: empty linear name", where);
  SLIM_CHECK(l.rows >= 1 && l.cols >= 1, "{}: bad shape {}x{}", where, l.rows, l.cols);
  SLIM_CHECK(l.group_size >= 1 || l.group_size == -1, "{}: group_size must be >= 1 or -1, got {}", where,
             l.group_size);
  SLIM_CHECK(l.target_bits >= 2 && l.target_bits <= 7, "{}: target_bits must be in 2..7, got {}", where,
             l.target_bits);
  const int64_t G = n_groups(l.cols, l.group_size), gw = group_width(l.cols, l.group_size);
  SLIM_CHECK(int64_t(l.bits.size()) == G, "{}: {} group bit widths, but {} columns in groups of {} make {} groups",
             where, l.bits.size(), l.cols, l.group_size, G);
  const int N = l.target_bits;
  SLIM_CHECK(l.scope == "layer" || l.scope == "site" || l.scope == "depth" || l.scope == "model",
             "{}: unknown scope '{}' (layer, site, depth, model)", where, l.scope);
  const int max_b = error_method(l.method) ? N + 2 : N + 1;
  int64_t low = 0, high = 0, total = 0;
  for (int64_t g = 0; g < G; ++g) {
    const int b = l.bits[size_t(g)];
    SLIM_CHECK(b >= N - 1 && b <= max_b && b <= 8, "{}: group {} has {} bits, allowed {}..{} for target {}", where,
               g, b, N - 1, std::min(max_b, 8), N);
    low += b < N;
    high += b > N;
    total += std::min(gw, l.cols - g * gw) * b;
  }
  if (l.scope == "layer" || l.scope == "site")  // site: shared widths keep every member exact
    SLIM_CHECK(total == int64_t(N) * l.cols, "{}: average is {:.6f} bits per weight, not the target {}", where,
               double(total) / double(l.cols), N);
  SLIM_CHECK(l.k >= 0 && low == l.k && high == l.up_count(),
             "{}: k = {}, k_up = {} but {} groups below {} bits and {} above", where, l.k, l.up_count(), low, N, high);
  SLIM_CHECK(l.kl_k_first == 0 || l.kl_k_first == 1, "{}: kl_k_first must be 0 or 1, got {}", where, l.kl_k_first);
  for (size_t i = 0; i < l.kl.size(); ++i)
    SLIM_CHECK(std::isfinite(l.kl[i]), "{}: kl[{}] is not finite", where, i);
  if (!l.kl.empty())
    SLIM_CHECK(l.k >= l.kl_k_first && l.k < l.kl_k_first + int64_t(l.kl.size()),
               "{}: k = {} is outside the searched candidates {}..{}", where, l.k, l.kl_k_first,
               l.kl_k_first + int64_t(l.kl.size()) - 1);
  SLIM_CHECK(l.method == "sba-kl" || l.method == "fixed" || l.method == "uniform" || error_method(l.method),
             "{}: unknown method '{}' (sba-kl, sba-obs, sba-hessian, fixed, uniform)", where, l.method);
  SLIM_CHECK(l.variant == "default" || l.variant == "faithful", "{}: unknown variant '{}' (default, faithful)",
             where, l.variant);
  SLIM_CHECK(l.token_stride >= 1, "{}: token_stride must be >= 1, got {}", where, l.token_stride);
}

void validate_map(const Bitmap& map, const std::string& source, const BitmapShapeFn& shapes) {
  std::set<std::pair<int, std::string>> seen;
  // Model-scope layers share one budget: their code bits must total N per weight (exactly).
  int64_t model_dev = 0, model_weights = 0;
  int model_n = 0;
  for (size_t i = 0; i < map.layers.size(); ++i) {
    const BitmapLayer& l = map.layers[i];
    const std::string where = fmt::format("{}: {}", source, layer_label(l, i));
    validate_layer(l, where);
    SLIM_CHECK(seen.emplace(l.block, l.name).second, "{}: duplicate entry for block {} {}", where, l.block, l.name);
    if (shapes) {
      const auto s = shapes(l.block, l.name);
      SLIM_CHECK(s.has_value(), "{}: the model has no linear {} in block {}", where, l.name, l.block);
      SLIM_CHECK(s->first == l.rows && s->second == l.cols, "{}: shape {}x{} in the map, {}x{} in the model", where,
                 l.rows, l.cols, s->first, s->second);
    }
    if (l.scope == "model" || l.scope == "depth") {
      SLIM_CHECK(model_n == 0 || model_n == l.target_bits, "{}: model-scope layers with different targets ({} and {})",
                 where, model_n, l.target_bits);
      model_n = l.target_bits;
      const int64_t G = n_groups(l.cols, l.group_size), gw = group_width(l.cols, l.group_size);
      for (int64_t g = 0; g < G; ++g)
        model_dev += l.rows * std::min(gw, l.cols - g * gw) * (l.bits[size_t(g)] - l.target_bits);
      model_weights += l.rows * l.cols;
    }
  }
  SLIM_CHECK(model_dev == 0, "{}: the model-scope layers average {:.6f} code bits per weight, not the target {}",
             source, model_n + double(model_dev) / double(std::max<int64_t>(model_weights, 1)), model_n);
}

// Typed field access with messages naming the key.
const json& field(const json& o, const char* key, const std::string& where) {
  const auto it = o.find(key);
  SLIM_CHECK(it != o.end(), "{}: missing key '{}'", where, key);
  return *it;
}

// Numbers go through util/json_num: no wrapped, fractional or boolean values.
int64_t get_int(const json& o, const char* key, const std::string& where) {
  return json_int(field(o, key, where), where, key, 0, int64_t(1) << 40);
}

int get_small_int(const json& o, const char* key, const std::string& where) {
  return int(json_int(field(o, key, where), where, key, -(int64_t(1) << 30), int64_t(1) << 30));
}

std::string get_string(const json& o, const char* key, const std::string& where) {
  const json& v = field(o, key, where);
  SLIM_CHECK(v.is_string(), "{}: '{}' must be a string", where, key);
  return v.get<std::string>();
}

BitmapLayer parse_layer(const json& o, const std::string& where, int64_t version) {
  SLIM_CHECK(o.is_object(), "{}: must be a JSON object", where);
  BitmapLayer l;
  l.block = get_small_int(o, "block", where);
  l.name = get_string(o, "name", where);
  l.rows = get_int(o, "rows", where);
  l.cols = get_int(o, "cols", where);
  l.group_size = get_small_int(o, "group_size", where);
  l.target_bits = get_small_int(o, "target_bits", where);
  const json& bits = field(o, "bits", where);
  SLIM_CHECK(bits.is_array(), "{}: 'bits' must be an array", where);
  for (size_t i = 0; i < bits.size(); ++i) {
    l.bits.push_back(int(json_int(bits[i], where, fmt::format("bits[{}]", i), 1, 8)));
  }
  l.k = get_small_int(o, "k", where);
  l.k_up = version >= 2 && o.contains("k_up") ? get_small_int(o, "k_up", where) : -1;
  SLIM_CHECK(l.k_up >= -1, "{}: k_up must be >= 0, got {}", where, l.k_up);
  if (version >= 2 && o.contains("scope")) l.scope = get_string(o, "scope", where);
  l.kl_k_first = get_small_int(o, "kl_k_first", where);
  const json& kl = field(o, "kl", where);
  SLIM_CHECK(kl.is_array(), "{}: 'kl' must be an array", where);
  for (size_t i = 0; i < kl.size(); ++i) {
    SLIM_CHECK(kl[i].is_number(), "{}: kl[{}] must be a number", where, i);
    l.kl.push_back(kl[i].get<double>());
  }
  l.method = get_string(o, "method", where);
  l.variant = get_string(o, "variant", where);
  if (o.contains("token_stride")) l.token_stride = get_small_int(o, "token_stride", where);
  return l;
}

}  // namespace

const BitmapLayer* Bitmap::find(int block, std::string_view name) const {
  for (const BitmapLayer& l : layers)
    if (l.block == block && l.name == name) return &l;
  return nullptr;
}

std::string bitmap_to_json(const Bitmap& map) {
  validate_map(map, "bit map", {});
  // One layer per line: large maps stay diffable without one line per bit.
  const bool v2 = std::any_of(map.layers.begin(), map.layers.end(), needs_v2);
  std::string out = fmt::format("{{\n  \"format\": {},\n  \"version\": {},\n", json(kFormat).dump(), v2 ? 2 : 1);
  if (!map.model.empty()) out += fmt::format("  \"model\": {},\n", json(map.model).dump());
  out += "  \"layers\": [";
  for (size_t i = 0; i < map.layers.size(); ++i) {
    const BitmapLayer& l = map.layers[i];
    json o = json::object();
    o["block"] = l.block;
    o["name"] = l.name;
    o["rows"] = l.rows;
    o["cols"] = l.cols;
    o["group_size"] = l.group_size;
    o["target_bits"] = l.target_bits;
    o["bits"] = l.bits;
    o["k"] = l.k;
    if (v2) {
      o["k_up"] = l.up_count();
      o["scope"] = l.scope;
    }
    o["kl_k_first"] = l.kl_k_first;
    o["kl"] = l.kl;  // shortest round-trip decimal: loads back bit-identical
    o["method"] = l.method;
    o["variant"] = l.variant;
    o["token_stride"] = l.token_stride;
    out += (i ? ",\n    " : "\n    ") + o.dump();
  }
  out += map.layers.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

void save_bitmap(const std::string& path, const Bitmap& map) {
  std::string text;
  try {
    text = bitmap_to_json(map);
  } catch (const Error& e) {
    fail("{}: refusing to write an invalid bit map: {}", path, e.what());
  }
  write_file_atomic(path, text);
}

Bitmap bitmap_from_json(std::string_view text, const std::string& source, const BitmapShapeFn& shapes) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", source, e.what());
  }
  SLIM_CHECK(root.is_object(), "{}: the top level must be a JSON object", source);
  const auto fmt_it = root.find("format");
  SLIM_CHECK(fmt_it != root.end() && fmt_it->is_string() && fmt_it->get<std::string>() == kFormat,
             "{}: not a slim bit map (\"format\" must be \"{}\")", source, kFormat);
  const auto ver = root.find("version");
  SLIM_CHECK(ver != root.end() && ver->is_number_integer(), "{}: missing integer \"version\"", source);
  SLIM_CHECK(ver->get<int64_t>() >= 1 && ver->get<int64_t>() <= kVersion,
             "{}: bit map version {} is not supported (this build reads 1..{})", source, ver->get<int64_t>(), kVersion);
  Bitmap map;
  if (root.contains("model")) {
    SLIM_CHECK(root["model"].is_string(), "{}: \"model\" must be a string", source);
    map.model = root["model"].get<std::string>();
  }
  const auto layers = root.find("layers");
  SLIM_CHECK(layers != root.end() && layers->is_array(), "{}: missing \"layers\" array", source);
  for (size_t i = 0; i < layers->size(); ++i)
    map.layers.push_back(parse_layer((*layers)[i], fmt::format("{}: layer #{}", source, i), ver->get<int64_t>()));
  validate_map(map, source, shapes);
  return map;
}

Bitmap load_bitmap(const std::string& path, const BitmapShapeFn& shapes) {
  return bitmap_from_json(read_file(path), path, shapes);
}

}  // namespace slim
