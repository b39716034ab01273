// Pictures and summaries of a SliM bit map (quant/bitmap.h): a heat map with
// one row per linear (block 0 q,k,v,o,gate,up,down, then block 1, ...) and
// one column per weight group, coloured by the group's bit width.
//
// Two renderings:
//  - SVG: hand-written text, one <rect class="cell"> per group with a <title>
//    tooltip ("L3 up_proj group 5 (cols 80..95): 3 bits"), row labels and a
//    legend. This is the detailed, exact view.
//  - PNG (libpng): the same grid as pixels, row labels and legend drawn with a
//    built-in 5x7 font in UPPER CASE (the font has no lower case: "L0 Q_PROJ").
//    Cells are cell_w x cell_h px with a 1 px white separator; when the widest
//    linear has too many groups for max_grid_width, cells shrink (down to 1 px,
//    no separator) and beyond that each pixel column shows the group under it,
//    so the PNG is an overview and the SVG the reference.
// A linear with fewer groups than the widest leaves the rest of its row grey.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "quant/bitmap.h"

namespace slim {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// Fixed palette, so maps of different runs compare by eye: 1..8 bits run from
// red (few bits) through yellow/green to blue/violet (many). Out of range:
// blank_colour().
Rgb bits_colour(int bits);
Rgb blank_colour();  // grey: no group here (a narrower linear)
std::string hex_colour(Rgb c);  // "#rrggbb"

// Columns of group g of a linear (the last group may be shorter; group_size
// -1 means one group spanning all columns).
int64_t group_width(const BitmapLayer& l, size_t g);

// Group counts per bit width and the weighted code-bit average.
struct BitsSummary {
  std::array<int64_t, 9> groups{};  // [b]: column groups at b bits (b = 1..8)
  double weights = 0;               // Σ rows·width
  double code_bits = 0;             // Σ rows·width·bits
  void add(const BitmapLayer& l);
  void add(const BitsSummary& s);
  // Code bits per weight (no scales/zeros), weighted by group width × rows.
  double avg_code_bits() const { return weights > 0 ? code_bits / weights : 0.0; }
};
BitsSummary summarize(const BitmapLayer& l);

// Display order: by block, then q,k,v,o,gate,up,down, other names after in
// alphabetical order. Indices into map.layers.
std::vector<size_t> display_order(const Bitmap& map);
// "L0 q_proj"
std::string row_label(const BitmapLayer& l);

std::string bitmap_to_svg(const Bitmap& map);

struct PngOptions {
  int cell_w = 10, cell_h = 10;  // px per group cell, separator included
  int max_grid_width = 1600;     // px; wider grids shrink their cells
};

// Pixel geometry of the PNG, exposed so tests (and anyone) can find a cell.
struct PngLayout {
  static constexpr int kMargin = 8, kLegendH = 10, kLegendGap = 8, kLabelGap = 6, kGlyphW = 6;
  int width = 0, height = 0;
  int grid_x = 0, grid_y = 0;     // top-left of the grid
  int grid_w = 0;                 // px
  int cell_w = 0, cell_h = 0;     // cell_w is 0 when groups are sampled per pixel
  int64_t max_groups = 0;
  size_t rows = 0;
  // The group shown in pixel column x of the grid (0-based within the grid).
  int64_t group_at(int x) const;
  // Centre pixel (absolute) of (display row, group); valid when cell_w > 0.
  std::pair<int, int> cell_centre(size_t row, int64_t group) const;
};
PngLayout png_layout(const Bitmap& map, const PngOptions& opt = {});

// PNG file bytes (RGB, 8-bit). Throws slim::Error on a libpng failure.
std::string bitmap_to_png(const Bitmap& map, const PngOptions& opt = {});

// Atomic writes (util/files.h). Throw slim::Error naming the file.
void save_bitmap_svg(const std::string& path, const Bitmap& map);
void save_bitmap_png(const std::string& path, const Bitmap& map, const PngOptions& opt = {});

}  // namespace slim
