// The SliM bit map: which bit width every weight group of every linear gets
// (the output of SBA), saved so a later run or another tool can reuse it
// without repeating the KL search (the reference's undocumented .pt files,
// spec §10.3).
//
// ---------------------------------------------------------------------------
// Format "slim-bitmap", version 1 — one UTF-8 JSON object:
//
// {
//   "format": "slim-bitmap",          required, exactly this string
//   "version": 1,                     required integer; readers refuse other versions
//   "model": "stories15M",            optional string (informational)
//   "layers": [                       required array, one entry per quantized linear
//     {
//       "block": 0,                   decoder block index, integer >= 0
//       "name": "q_proj",             linear name within the block, non-empty string
//       "rows": 288, "cols": 288,     weight shape (out, in), integers >= 1
//       "group_size": 128,            columns per group, >= 1 (a last, shorter group
//                                     when it does not divide cols); -1: one group per row
//       "target_bits": 2,             N, integer 2..7
//       "bits": [1, 2, 3],            ceil(cols / group_size) integers, each in N-1..N+1,
//                                     group g covering columns [g·gs, min((g+1)·gs, cols))
//       "k": 1,                       groups at N-1 == groups at N+1 == k
//       "kl_k_first": 0,              the k of kl[0] (0, or 1 for the faithful variant)
//       "kl": [0.51, 0.43],           KL summed over the calibration tokens used, per candidate
//                                     k = kl_k_first + i; may be empty (no search ran)
//       "method": "sba-kl",           how k was chosen: "sba-kl" (KL search), "fixed" (given k),
//                                     "uniform" (no mixing)
//       "variant": "default",         "default" or "faithful" (reference damp / k ≥ 1 / clamped KL)
//       "token_stride": 1             optional, integer >= 1: every s-th calibration token was used
//     }, ...
//   ]
// }
//
// Version 2 (issue 4, error-driven allocation, quant/alloc.h) — the same
// object with, per layer:
//       "k": 2, "k_up": 1,            groups below N, groups above N (v1: both k)
//       "scope": "layer" | "model",   "model": the layer need not average N; instead all
//                                     model-scope layers together total exactly N code bits
//                                     per weight: Σ rows·width_g·(bits_g − N) == 0
//       "method": "sba-obs" | "sba-hessian" (as well as the v1 methods): these allow
//                                     widths up to N+2
// A writer emits version 1 whenever every layer fits it (layer scope, k_up ==
// k, widths within N±1), so v1 readers keep reading KL maps; this build reads
// both (in a version-1 file the v2 keys are ignored).
//
// Invariants checked on load (a violation is a slim::Error naming the file,
// the layer and the problem): the format/version; required keys with the
// right JSON types; unique (block, name); len(bits) == number of groups; bits
// within N-1..N+1 (N+2 for sba-obs/sba-hessian, and 1..8); for layer scope
// the bits-per-weight average exactly N, i.e. Σ_g width_g·bits_g == N·cols
// (SBA keeps it by never moving a short last group), for model scope the
// model-level sum above; #(< N) == k, #(> N) == k_up; kl finite and, when present, k inside its
// candidate range. Optionally the shapes are checked against a model.
// Unknown keys are ignored (forward-compatible additions within version 1).
// ---------------------------------------------------------------------------
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slim {

struct BitmapLayer {
  int block = 0;
  std::string name;
  int64_t rows = 0, cols = 0;
  int group_size = 128;
  int target_bits = 2;
  std::vector<int> bits;  // (n_groups)
  int k = 0;              // groups below N
  int k_up = -1;          // groups above N; -1: the same as k (version 1 semantics)
  int up_count() const { return k_up < 0 ? k : k_up; }
  std::string scope = "layer";  // "layer": this linear averages N; "model": only the model total does
  std::vector<double> kl;  // (candidates), may be empty
  int kl_k_first = 0;
  std::string method = "sba-kl";
  std::string variant = "default";
  int token_stride = 1;
};

struct Bitmap {
  std::string model;
  std::vector<BitmapLayer> layers;
  // The entry for (block, name), or nullptr.
  const BitmapLayer* find(int block, std::string_view name) const;
};

// Shape of a linear, for checking a map against a model: (rows, cols), or
// nullopt when the model has no such linear (then the map is refused).
using BitmapShapeFn = std::function<std::optional<std::pair<int64_t, int64_t>>(int block, const std::string& name)>;

// Serialises (validating first: an invalid map is never written).
std::string bitmap_to_json(const Bitmap& map);
// Atomic write (util/files.h write_file_atomic). Throws slim::Error.
void save_bitmap(const std::string& path, const Bitmap& map);

// Parses and validates; `source` names the file in error messages.
Bitmap bitmap_from_json(std::string_view text, const std::string& source, const BitmapShapeFn& shapes = {});
Bitmap load_bitmap(const std::string& path, const BitmapShapeFn& shapes = {});

}  // namespace slim
