// Bit-map rendering (quant/bitmap_render.h): SVG cells and tooltips, PNG
// header and pixel colours read back through libpng, and the histogram /
// weighted-average arithmetic behind `slim report`.
#include <gtest/gtest.h>
#include <png.h>

#include <set>

#include "quant/bitmap_render.h"
#include "test_util.h"
#include "util/files.h"

namespace slim {
namespace {

BitmapLayer make_layer(int block, const std::string& name, int64_t rows, int64_t cols, int gs, std::vector<int> bits) {
  BitmapLayer l;
  l.block = block;
  l.name = name;
  l.rows = rows;
  l.cols = cols;
  l.group_size = gs;
  l.bits = std::move(bits);
  return l;
}

// Stored out of display order on purpose: display is L0 q, L0 down, L1 q.
Bitmap small_map() {
  Bitmap m;
  m.layers.push_back(make_layer(1, "q_proj", 2, 32, 16, {4, 5}));
  m.layers.push_back(make_layer(0, "down_proj", 8, 16, 16, {8}));
  m.layers.push_back(make_layer(0, "q_proj", 4, 40, 16, {1, 2, 3}));  // last group 8 wide
  return m;
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

uint32_t be32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint32_t(uint8_t(s[at + 3]));
}

// Decodes with libpng's simplified API (no setjmp needed) to packed RGB.
struct Decoded {
  uint32_t w = 0, h = 0;
  std::vector<uint8_t> px;
  Rgb at(int x, int y) const {
    const uint8_t* p = &px[(size_t(y) * w + size_t(x)) * 3];
    return {p[0], p[1], p[2]};
  }
};
Decoded decode(const std::string& bytes) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_memory(&img, bytes.data(), bytes.size())) << img.message;
  img.format = PNG_FORMAT_RGB;
  Decoded d;
  d.w = img.width;
  d.h = img.height;
  d.px.resize(PNG_IMAGE_SIZE(img));
  EXPECT_TRUE(png_image_finish_read(&img, nullptr, d.px.data(), 0, nullptr)) << img.message;
  png_image_free(&img);
  return d;
}

TEST(ReportPalette, DistinctColoursForOneToEightBits) {
  std::set<std::string> seen;
  for (int b = 1; b <= 8; ++b) {
    EXPECT_NE(bits_colour(b), blank_colour()) << b;
    seen.insert(hex_colour(bits_colour(b)));
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_EQ(bits_colour(0), blank_colour());
  EXPECT_EQ(bits_colour(9), blank_colour());
  EXPECT_EQ(hex_colour({0x01, 0xab, 0xff}), "#01abff");
}

TEST(ReportSummary, HistogramAndWeightedAverage) {
  const Bitmap m = small_map();
  const BitmapLayer& q0 = m.layers[2];
  EXPECT_EQ(group_width(q0, 0), 16);
  EXPECT_EQ(group_width(q0, 2), 8);
  const BitsSummary s = summarize(q0);
  EXPECT_EQ(s.groups[1], 1);
  EXPECT_EQ(s.groups[2], 1);
  EXPECT_EQ(s.groups[3], 1);
  EXPECT_EQ(s.groups[4], 0);
  EXPECT_DOUBLE_EQ(s.weights, 4.0 * 40);
  // 4 rows × (16·1 + 16·2 + 8·3) = 288 bits over 160 weights: the short last
  // group weighs half, so this is not the plain mean 2.0 of the group bits.
  EXPECT_DOUBLE_EQ(s.code_bits, 288.0);
  EXPECT_DOUBLE_EQ(s.avg_code_bits(), 1.8);

  BitsSummary total;
  for (const auto& l : m.layers) total.add(l);
  EXPECT_EQ(total.groups[8], 1);
  EXPECT_EQ(total.groups[4] + total.groups[5], 2);
  // q1: 2·16·(4+5) = 288 bits / 64; down: 8·16·8 = 1024 / 128.
  EXPECT_DOUBLE_EQ(total.weights, 160 + 64 + 128);
  EXPECT_DOUBLE_EQ(total.avg_code_bits(), (288.0 + 288.0 + 1024.0) / 352.0);

  BitmapLayer one_group = make_layer(0, "o_proj", 3, 10, -1, {2});
  EXPECT_EQ(group_width(one_group, 0), 10);
  EXPECT_DOUBLE_EQ(summarize(one_group).avg_code_bits(), 2.0);
}

TEST(ReportOrder, BlockThenProjectionOrder) {
  Bitmap m = small_map();
  m.layers.push_back(make_layer(0, "gate_proj", 1, 16, 16, {2}));
  m.layers.push_back(make_layer(0, "k_proj", 1, 16, 16, {2}));
  std::vector<std::string> got;
  for (size_t i : display_order(m)) got.push_back(row_label(m.layers[i]));
  EXPECT_EQ(got, (std::vector<std::string>{"L0 q_proj", "L0 k_proj", "L0 gate_proj", "L0 down_proj", "L1 q_proj"}));
}

TEST(ReportSvg, OneCellPerGroupWithTooltips) {
  test::TempDir tmp;
  const Bitmap m = small_map();
  save_bitmap_svg(tmp.file("map.svg"), m);
  const std::string svg = read_file(tmp.file("map.svg"));
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"cell\""), 6u);   // 3 + 1 + 2 groups
  EXPECT_EQ(count(svg, "class=\"blank\""), 3u);  // 3 rows × 3 columns − 6
  EXPECT_EQ(count(svg, "<title>L"), 6u);
  EXPECT_NE(svg.find("<title>L0 q_proj group 2 (cols 32..39): 3 bits</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>L1 q_proj group 1 (cols 16..31): 5 bits</title>"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"" + hex_colour(bits_colour(8)) + "\""), std::string::npos);
  EXPECT_NE(svg.find(">L0 down_proj</text>"), std::string::npos);
  // Names are escaped.
  Bitmap odd;
  odd.layers.push_back(make_layer(0, "a<b&c", 1, 4, 4, {2}));
  EXPECT_NE(bitmap_to_svg(odd).find("a&lt;b&amp;c"), std::string::npos);
}

TEST(ReportPng, HeaderSizeAndCellColours) {
  test::TempDir tmp;
  const Bitmap m = small_map();
  save_bitmap_png(tmp.file("map.png"), m);
  const std::string png = read_file(tmp.file("map.png"));
  ASSERT_GT(png.size(), 33u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");

  // Layout by hand: labels are 12 glyphs ("L0 DOWN_PROJ") of 6 px; 3 groups of
  // 10 px; the legend (8 + 30 + 9·30 + 8 = 316 px) is the widest part.
  const PngLayout L = png_layout(m);
  EXPECT_EQ(L.grid_x, 8 + 12 * 6 + 6);
  EXPECT_EQ(L.grid_y, 8 + 10 + 8);
  EXPECT_EQ(L.cell_w, 10);
  EXPECT_EQ(L.grid_w, 30);
  EXPECT_EQ(L.width, 316);
  EXPECT_EQ(L.height, 26 + 3 * 10 + 8);
  EXPECT_EQ(be32(png, 16), uint32_t(L.width));
  EXPECT_EQ(be32(png, 20), uint32_t(L.height));

  const Decoded d = decode(png);
  ASSERT_EQ(d.w, uint32_t(L.width));
  ASSERT_EQ(d.h, uint32_t(L.height));
  const auto order = display_order(m);
  for (size_t r = 0; r < order.size(); ++r) {
    const BitmapLayer& l = m.layers[order[r]];
    for (int64_t g = 0; g < L.max_groups; ++g) {
      const auto [x, y] = L.cell_centre(r, g);
      const Rgb want = g < int64_t(l.bits.size()) ? bits_colour(l.bits[size_t(g)]) : blank_colour();
      EXPECT_EQ(d.at(x, y), want) << row_label(l) << " group " << g;
    }
  }
  // The 1 px separator after a cell is white; the label column has dark ink.
  EXPECT_EQ(d.at(L.grid_x + 9, L.grid_y + 4), (Rgb{0xff, 0xff, 0xff}));
  bool ink = false;
  for (int y = L.grid_y; y < L.grid_y + 10; ++y)
    for (int x = 8; x < L.grid_x; ++x) ink = ink || d.at(x, y).r < 0x80;
  EXPECT_TRUE(ink);
}

TEST(ReportPng, WideMapsShrinkThenSample) {
  Bitmap m;
  m.layers.push_back(make_layer(0, "up_proj", 1, 1000 * 4, 4, std::vector<int>(1000, 3)));
  PngLayout L = png_layout(m);
  EXPECT_EQ(L.cell_w, 1);
  EXPECT_EQ(L.grid_w, 1000);

  m.layers[0] = make_layer(0, "up_proj", 1, 5000 * 4, 4, std::vector<int>(5000, 3));
  m.layers[0].bits.back() = 4;
  L = png_layout(m);
  EXPECT_EQ(L.cell_w, 0);
  EXPECT_EQ(L.grid_w, 1600);
  EXPECT_EQ(L.group_at(0), 0);
  EXPECT_EQ(L.group_at(1599), 4996);
  const Decoded d = decode(bitmap_to_png(m));
  EXPECT_EQ(d.w, uint32_t(L.width));
  EXPECT_EQ(d.at(L.grid_x + 800, L.grid_y + 4), bits_colour(3));
}

}  // namespace
}  // namespace slim
