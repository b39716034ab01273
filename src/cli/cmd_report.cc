// slim report DIR: what a quantized model directory holds, bit-wise. Reads
// DIR/quant_report.json (always written by `slim quantize`) and DIR/bitmap.json
// (only for --method slim; rtn/gptq use one width everywhere, so a uniform map
// is derived from the report instead), prints a per-linear table with the
// group histogram, and draws the map as PNG + SVG heat maps
// (quant/bitmap_render.h).
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "quant/bitmap.h"
#include "quant/bitmap_render.h"
#include "quant/bits.h"
#include "quant/quantizer.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_num.h"

namespace slim::cli {

namespace {
struct ReportArgs {
  std::string dir, png, svg, json;
};

nlohmann::json read_json(const std::string& path) {
  SLIM_CHECK(file_exists(path), "{}: not found (is this a `slim quantize --out` directory?)", path);
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed JSON: {}", path, e.what());
  }
}

// One quant_report.json layer entry, the fields the report needs.
struct ReportLine {
  int layer = 0;
  std::string name;
  int64_t rows = 0, cols = 0;
  int bits = 0, group_size = 0;
  double bits_per_weight = -1;  // < 0: absent
};

std::vector<ReportLine> report_lines(const nlohmann::json& j, const std::string& path) {
  SLIM_CHECK(j.is_object() && j.contains("layers") && j["layers"].is_array(), "{}: no \"layers\" array", path);
  std::vector<ReportLine> out;
  for (size_t i = 0; i < j["layers"].size(); ++i) {
    const auto& e = j["layers"][i];
    try {
      ReportLine r;
      const std::string where = fmt::format("layers[{}]", i);
      r.layer = int(json_int(e.at("layer"), path, where + ".layer", 0, 1 << 20));
      r.name = e.at("name").get<std::string>();
      const auto& shape = e.at("shape");
      SLIM_CHECK(shape.is_array() && shape.size() == 2, "{}: layers[{}]: \"shape\" is not [rows, cols]", path, i);
      r.rows = json_int(shape[0], path, where + ".shape[0]", 1, int64_t(1) << 40);
      r.cols = json_int(shape[1], path, where + ".shape[1]", 1, int64_t(1) << 40);
      r.bits = int(json_int(e.at("bits"), path, where + ".bits", 1, 8));
      r.group_size = int(json_int(e.at("group_size"), path, where + ".group_size", -1, 1 << 30));
      if (e.contains("bits_per_weight")) r.bits_per_weight = e["bits_per_weight"].get<double>();
      SLIM_CHECK(r.rows >= 1 && r.cols >= 1 && r.bits >= 1 && r.bits <= 8 && (r.group_size >= 1 || r.group_size == -1),
                 "{}: layers[{}] ({} {}): shape, bits or group_size out of range", path, i, r.layer, r.name);
      out.push_back(std::move(r));
    } catch (const nlohmann::json::exception& ex) {
      fail("{}: layers[{}]: {}", path, i, ex.what());
    }
  }
  return out;
}

// rtn/gptq: every group of every linear at the report's single width.
Bitmap uniform_map(const std::vector<ReportLine>& lines) {
  Bitmap m;
  for (const auto& r : lines) {
    BitmapLayer l;
    l.block = r.layer;
    l.name = r.name;
    l.rows = r.rows;
    l.cols = r.cols;
    l.group_size = r.group_size;
    l.target_bits = r.bits;
    l.bits.assign(size_t(n_groups(r.cols, r.group_size)), r.bits);
    l.k = 0;
    l.method = "uniform";
    m.layers.push_back(std::move(l));
  }
  return m;
}

void run(const ReportArgs& a) {
  if (options_only()) return;
  SLIM_CHECK(dir_exists(a.dir), "{}: no such directory", a.dir);
  const std::string report_path = a.dir + "/quant_report.json";
  const std::string bitmap_path = a.dir + "/bitmap.json";
  const nlohmann::json report = read_json(report_path);
  const auto lines = report_lines(report, report_path);
  const bool have_bitmap = file_exists(bitmap_path);
  const Bitmap map = have_bitmap ? load_bitmap(bitmap_path) : uniform_map(lines);
  SLIM_CHECK(!map.layers.empty(), "{}: no quantized linears", have_bitmap ? bitmap_path : report_path);

  std::map<std::pair<int, std::string>, const ReportLine*> by_key;
  for (const auto& r : lines) by_key[{r.layer, r.name}] = &r;

  const auto order = display_order(map);
  BitsSummary total;
  for (const auto& l : map.layers) total.add(l);
  std::vector<int> widths;  // histogram columns: the widths that occur anywhere
  for (int b = 1; b <= 8; ++b)
    if (total.groups[size_t(b)] > 0) widths.push_back(b);

  fmt::print("{}: {} linears, bit map from {}\n\n", a.dir, map.layers.size(),
             have_bitmap ? "bitmap.json" : "quant_report.json (uniform)");
  std::string head = fmt::format("{:>5}  {:<10} {:>12} {:>3} ", "layer", "name", "shape", "k*");
  for (int b : widths) head += fmt::format(" {:>5}", fmt::format("{}b", b));
  head += fmt::format("  {:>9} {:>9}", "code b/w", "b/w+meta");
  fmt::print("{}\n{}\n", head, std::string(head.size(), '-'));

  nlohmann::json jl = nlohmann::json::array();
  double meta_bits = 0, meta_weights = 0;
  for (size_t i : order) {
    const BitmapLayer& l = map.layers[i];
    const BitsSummary s = summarize(l);
    const auto it = by_key.find({l.block, l.name});
    const ReportLine* r = it == by_key.end() ? nullptr : it->second;
    if (r) SLIM_CHECK(r->rows == l.rows && r->cols == l.cols, "{}: {} {} is {}x{} in the report but {}x{} in the map",
                      a.dir, l.block, l.name, r->rows, r->cols, l.rows, l.cols);
    // Prefer the report's figure (what quantize counted); else the same formula.
    const double bpw = r && r->bits_per_weight >= 0
                           ? r->bits_per_weight
                           : linear_storage_bits(l.rows, l.cols, l.group_size, l.bits) / (double(l.rows) * double(l.cols));
    meta_bits += bpw * s.weights;
    meta_weights += s.weights;
    const bool uniform = l.method == "uniform";
    std::string row = fmt::format("{:>5}  {:<10} {:>12} {:>3} ", l.block, l.name, fmt::format("{}x{}", l.rows, l.cols),
                                  uniform ? "-" : std::to_string(l.k));
    nlohmann::json hist = nlohmann::json::object();
    for (int b : widths) row += fmt::format(" {:>5}", s.groups[size_t(b)]);
    for (int b = 1; b <= 8; ++b)
      if (s.groups[size_t(b)] > 0) hist[std::to_string(b)] = s.groups[size_t(b)];
    row += fmt::format("  {:>9.4f} {:>9.4f}", s.avg_code_bits(), bpw);
    fmt::print("{}\n", row);
    jl.push_back({{"layer", l.block},
                  {"name", l.name},
                  {"shape", {l.rows, l.cols}},
                  {"group_size", l.group_size},
                  {"k", uniform ? nlohmann::json(nullptr) : nlohmann::json(l.k)},
                  {"bits_histogram", hist},
                  {"avg_code_bits", s.avg_code_bits()},
                  {"bits_per_weight", bpw}});
  }
  const double avg_meta = meta_weights > 0 ? meta_bits / meta_weights : 0.0;
  std::string tot_hist;
  nlohmann::json th = nlohmann::json::object();
  for (int b : widths) {
    tot_hist += fmt::format("{}{}b: {}", tot_hist.empty() ? "" : ", ", b, total.groups[size_t(b)]);
    th[std::to_string(b)] = total.groups[size_t(b)];
  }
  fmt::print("{}\n", std::string(head.size(), '-'));
  fmt::print("groups        {}\n", tot_hist);
  fmt::print("code bits     {:.4f} per weight (weighted by group width x rows)\n", total.avg_code_bits());
  fmt::print("bits/weight   {:.4f} incl. scales and zeros\n", avg_meta);

  const std::string png = a.png.empty() ? a.dir + "/bitmap.png" : a.png;
  const std::string svg = a.svg.empty() ? a.dir + "/bitmap.svg" : a.svg;
  save_bitmap_png(png, map);
  save_bitmap_svg(svg, map);
  fmt::print("wrote         {}, {}\n", png, svg);

  write_json(a.json, {{"dir", a.dir},
                      {"bitmap_source", have_bitmap ? "bitmap.json" : "uniform"},
                      {"layers", jl},
                      {"totals",
                       {{"bits_histogram", th},
                        {"avg_code_bits", total.avg_code_bits()},
                        {"bits_per_weight", avg_meta},
                        {"weights", total.weights}}},
                      {"png", png},
                      {"svg", svg}});
}
}  // namespace

void add_report(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "bit-width table and heat maps (PNG, SVG) of a quantized model directory");
  cmd->add_option("dir", a->dir, "directory written by `slim quantize --out`")->required();
  cmd->add_option("--png", a->png, "heat map PNG (default DIR/bitmap.png)");
  cmd->add_option("--svg", a->svg, "heat map SVG with per-group tooltips (default DIR/bitmap.svg)");
  cmd->add_option("--json", a->json, "also write the table as JSON to this file");
  cmd->callback([a] { run(*a); });
}

}  // namespace slim::cli
