#include "quant/bitmap_render.h"

#include <fmt/format.h>
#include <png.h>

#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <memory>

#include "util/error.h"
#include "util/files.h"

namespace slim {

namespace {

// A legible sequential-ish palette (ColorBrewer RdYlGn + blues): neighbouring
// bit widths differ in hue, so N-1 / N / N+1 stand apart in any map.
constexpr std::array<Rgb, 8> kPalette = {{
    {0xd7, 0x30, 0x27},  // 1
    {0xfc, 0x8d, 0x59},  // 2
    {0xfe, 0xe0, 0x8b},  // 3
    {0xd9, 0xef, 0x8b},  // 4
    {0x91, 0xcf, 0x60},  // 5
    {0x1a, 0x98, 0x50},  // 6
    {0x45, 0x75, 0xb4},  // 7
    {0x54, 0x27, 0x88},  // 8
}};
constexpr Rgb kBlank{0xd0, 0xd0, 0xd0};
constexpr Rgb kWhite{0xff, 0xff, 0xff};
constexpr Rgb kInk{0x20, 0x20, 0x20};

int64_t group_count(const BitmapLayer& l) { return int64_t(l.bits.size()); }

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// 5x7 glyphs, one byte per row, bit 4 = leftmost pixel. Upper case only: the
// PNG labels are upper-cased (the SVG keeps the real names).
struct Glyph {
  char c;
  std::array<uint8_t, 7> rows;
};
constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
};

const Glyph* find_glyph(char c) {
  c = char(std::toupper(static_cast<unsigned char>(c)));
  for (const Glyph& g : kFont)
    if (g.c == c) return &g;
  return c == ' ' ? nullptr : find_glyph('?');
}

// An RGB canvas the PNG encoder reads row by row.
struct Canvas {
  int w, h;
  std::vector<uint8_t> px;
  Canvas(int w_, int h_) : w(w_), h(h_), px(size_t(w_) * size_t(h_) * 3, 0xff) {}
  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    uint8_t* p = &px[(size_t(y) * size_t(w) + size_t(x)) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  void fill(int x, int y, int fw, int fh, Rgb c) {
    for (int j = 0; j < fh; ++j)
      for (int i = 0; i < fw; ++i) set(x + i, y + j, c);
  }
  void text(int x, int y, const std::string& s, Rgb c) {
    for (char ch : s) {
      if (const Glyph* g = find_glyph(ch))
        for (int r = 0; r < 7; ++r)
          for (int b = 0; b < 5; ++b)
            if (g->rows[size_t(r)] & (0x10 >> b)) set(x + b, y + r, c);
      x += PngLayout::kGlyphW;
    }
  }
};

// libpng reports errors by longjmp; the jump target lives in this function,
// which holds no C++ objects with destructors, so nothing is skipped.
struct PngWriteState {
  std::string* out;
};
void png_write_cb(png_structp png, png_bytep data, png_size_t n) {
  auto* st = static_cast<PngWriteState*>(png_get_io_ptr(png));
  st->out->append(reinterpret_cast<const char*>(data), n);
}
void png_flush_cb(png_structp) {}

bool encode_rows(png_structp png, png_infop info, int w, int h, png_bytepp rows, PngWriteState* st) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, st, png_write_cb, png_flush_cb);
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

// Owns libpng's write structs (C API: created and destroyed in pairs).
class PngWriter {
 public:
  PngWriter() {
    png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (png_) info_ = png_create_info_struct(png_);
    SLIM_CHECK(png_ && info_, "libpng: cannot create a write struct");
  }
  ~PngWriter() { png_destroy_write_struct(&png_, info_ ? &info_ : nullptr); }
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

}  // namespace

Rgb bits_colour(int bits) { return bits >= 1 && bits <= 8 ? kPalette[size_t(bits - 1)] : kBlank; }
Rgb blank_colour() { return kBlank; }
std::string hex_colour(Rgb c) { return fmt::format("#{:02x}{:02x}{:02x}", c.r, c.g, c.b); }

int64_t group_width(const BitmapLayer& l, size_t g) {
  const int64_t gw = l.group_size <= 0 ? l.cols : l.group_size;
  return std::max<int64_t>(0, std::min<int64_t>(gw, l.cols - int64_t(g) * gw));
}

void BitsSummary::add(const BitmapLayer& l) {
  for (size_t g = 0; g < l.bits.size(); ++g) {
    const int b = l.bits[g];
    if (b >= 1 && b <= 8) ++groups[size_t(b)];
    const double w = double(l.rows) * double(group_width(l, g));
    weights += w;
    code_bits += w * b;
  }
}
void BitsSummary::add(const BitsSummary& s) {
  for (size_t b = 0; b < groups.size(); ++b) groups[b] += s.groups[b];
  weights += s.weights;
  code_bits += s.code_bits;
}
BitsSummary summarize(const BitmapLayer& l) {
  BitsSummary s;
  s.add(l);
  return s;
}

std::vector<size_t> display_order(const Bitmap& map) {
  static const std::array<std::string_view, 7> kNames = {"q_proj", "k_proj",  "v_proj",   "o_proj",
                                                         "gate_proj", "up_proj", "down_proj"};
  auto rank = [](const std::string& n) {
    auto it = std::find(kNames.begin(), kNames.end(), n);
    return int(it - kNames.begin());  // unknown names: kNames.size(), then by name
  };
  std::vector<size_t> idx(map.layers.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    const BitmapLayer &x = map.layers[a], &y = map.layers[b];
    if (x.block != y.block) return x.block < y.block;
    const int rx = rank(x.name), ry = rank(y.name);
    if (rx != ry) return rx < ry;
    return x.name < y.name;
  });
  return idx;
}

std::string row_label(const BitmapLayer& l) { return fmt::format("L{} {}", l.block, l.name); }

static int64_t widest(const Bitmap& map) {
  int64_t m = 0;
  for (const auto& l : map.layers) m = std::max(m, group_count(l));
  return m;
}

std::string bitmap_to_svg(const Bitmap& map) {
  constexpr int kCell = 12, kMargin = 10, kLegendH = 14, kCharW = 7;
  const auto order = display_order(map);
  const int64_t groups = widest(map);
  size_t label_chars = 0;
  for (const auto& l : map.layers) label_chars = std::max(label_chars, row_label(l).size());
  const int gx = kMargin + int(label_chars) * kCharW + 8, gy = kMargin + kLegendH + 12;
  const int legend_w = kMargin + 40 + 9 * 46;
  const int w = std::max<int>(gx + int(groups) * kCell + kMargin, legend_w);
  const int h = gy + int(order.size()) * kCell + kMargin;

  std::string s;
  s += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"monospace\" font-size=\"11\">\n",
      w, h);
  s += fmt::format("<title>SliM bit map{}</title>\n", map.model.empty() ? "" : " of " + xml_escape(map.model));
  s += fmt::format("<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", w, h);
  // Legend: fixed 1..8 swatches plus grey for "no group".
  s += fmt::format("<text x=\"{}\" y=\"{}\">bits</text>\n", kMargin, kMargin + 10);
  for (int b = 1; b <= 9; ++b) {
    const int x = kMargin + 40 + (b - 1) * 46;
    const bool blank = b == 9;
    s += fmt::format("<rect class=\"legend\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>", x,
                     kMargin, kCell, kCell, hex_colour(blank ? kBlank : bits_colour(b)));
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", x + kCell + 3, kMargin + 10,
                     blank ? "none" : std::to_string(b));
  }
  for (size_t r = 0; r < order.size(); ++r) {
    const BitmapLayer& l = map.layers[order[r]];
    const int y = gy + int(r) * kCell;
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", kMargin, y + kCell - 2, xml_escape(row_label(l)));
    const int64_t gw = l.group_size <= 0 ? l.cols : l.group_size;
    for (int64_t g = 0; g < groups; ++g) {
      const int x = gx + int(g) * kCell;
      if (g >= group_count(l)) {
        s += fmt::format("<rect class=\"blank\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", x, y,
                         kCell - 1, kCell - 1, hex_colour(kBlank));
        continue;
      }
      const int b = l.bits[size_t(g)];
      const int64_t c0 = g * gw, c1 = c0 + group_width(l, size_t(g)) - 1;
      s += fmt::format(
          "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
          "<title>{} group {} (cols {}..{}): {} bits</title></rect>\n",
          x, y, kCell - 1, kCell - 1, hex_colour(bits_colour(b)), xml_escape(row_label(l)), g, c0, c1, b);
    }
  }
  s += "</svg>\n";
  return s;
}

int64_t PngLayout::group_at(int x) const {
  if (cell_w > 0) return x / cell_w;
  return std::min<int64_t>(max_groups - 1, int64_t(x) * max_groups / std::max(1, grid_w));
}

std::pair<int, int> PngLayout::cell_centre(size_t row, int64_t group) const {
  return {grid_x + int(group) * cell_w + std::max(0, cell_w - 1) / 2, grid_y + int(row) * cell_h + (cell_h - 1) / 2};
}

PngLayout png_layout(const Bitmap& map, const PngOptions& opt) {
  SLIM_CHECK(opt.cell_w >= 1 && opt.cell_h >= 8 && opt.max_grid_width >= 1,
             "bit map PNG: cells must be at least 1 px wide and 8 px tall (the font is 7 px)");
  PngLayout L;
  L.max_groups = widest(map);
  L.rows = map.layers.size();
  L.cell_h = opt.cell_h;
  // Shrink cells to fit; past 1 px per group, sample (cell_w = 0).
  if (L.max_groups * opt.cell_w <= opt.max_grid_width) {
    L.cell_w = opt.cell_w;
  } else {
    L.cell_w = int(opt.max_grid_width / std::max<int64_t>(1, L.max_groups));
  }
  L.grid_w = L.cell_w > 0 ? int(L.max_groups) * L.cell_w : opt.max_grid_width;
  size_t label_chars = 0;
  for (const auto& l : map.layers) label_chars = std::max(label_chars, row_label(l).size());
  L.grid_x = PngLayout::kMargin + int(label_chars) * PngLayout::kGlyphW + PngLayout::kLabelGap;
  L.grid_y = PngLayout::kMargin + PngLayout::kLegendH + PngLayout::kLegendGap;
  // Legend: "BITS" + 9 swatches of (10 px + 2 glyphs + gaps) = 5*6 + 9*30.
  const int legend_w = PngLayout::kMargin + 5 * PngLayout::kGlyphW + 9 * 30 + PngLayout::kMargin;
  L.width = std::max(L.grid_x + L.grid_w + PngLayout::kMargin, legend_w);
  L.height = L.grid_y + int(L.rows) * L.cell_h + PngLayout::kMargin;
  return L;
}

std::string bitmap_to_png(const Bitmap& map, const PngOptions& opt) {
  const PngLayout L = png_layout(map, opt);
  Canvas cv(L.width, L.height);
  // Legend.
  int x = PngLayout::kMargin;
  const int ly = PngLayout::kMargin;
  cv.text(x, ly + 1, "BITS", kInk);
  x += 5 * PngLayout::kGlyphW;
  for (int b = 1; b <= 9; ++b) {
    cv.fill(x, ly, 10, 10, b == 9 ? kBlank : bits_colour(b));
    cv.text(x + 13, ly + 1, b == 9 ? "-" : std::to_string(b), kInk);
    x += 30;
  }
  // Grid. A 1 px white separator keeps equal neighbours apart when cells are
  // wide enough to afford it.
  const bool sep_x = L.cell_w >= 4, sep_y = L.cell_h >= 4;
  const auto order = display_order(map);
  for (size_t r = 0; r < order.size(); ++r) {
    const BitmapLayer& l = map.layers[order[r]];
    const int y0 = L.grid_y + int(r) * L.cell_h;
    cv.text(PngLayout::kMargin, y0 + (L.cell_h - 7) / 2, row_label(l), kInk);
    for (int px = 0; px < L.grid_w; ++px) {
      if (sep_x && px % L.cell_w == L.cell_w - 1) continue;
      const int64_t g = L.group_at(px);
      const Rgb c = g < group_count(l) ? bits_colour(l.bits[size_t(g)]) : kBlank;
      cv.fill(L.grid_x + px, y0, 1, L.cell_h - (sep_y ? 1 : 0), c);
    }
  }

  std::vector<png_bytep> rows(size_t(cv.h));
  for (int y = 0; y < cv.h; ++y) rows[size_t(y)] = &cv.px[size_t(y) * size_t(cv.w) * 3];
  std::string out;
  PngWriteState st{&out};
  PngWriter wr;
  SLIM_CHECK(encode_rows(wr.png(), wr.info(), cv.w, cv.h, rows.data(), &st), "libpng: encoding the bit map failed");
  return out;
}

void save_bitmap_svg(const std::string& path, const Bitmap& map) { write_file_atomic(path, bitmap_to_svg(map)); }

void save_bitmap_png(const std::string& path, const Bitmap& map, const PngOptions& opt) {
  write_file_atomic(path, bitmap_to_png(map, opt));
}

}  // namespace slim
