// PackedLinear: validation (from_parts), packing (encode), the derived tables
// and the scalar references. The products' fast paths live in
// packed_matmul.cc (dispatch, GEMM panels) and packed_kernels.cc (SIMD).
#include "pack/packed_linear.h"

#include <algorithm>
#include <cmath>
#include <vector>


#include "pack/int8_gemv.h"
#include "pack/packed_kernels.h"
#include "util/error.h"
#include "util/half.h"

namespace slim {

namespace {

bool f16_finite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

// Bit-stream writer/reader for the zero points (LSB first).
void put_bits(uint8_t* p, int64_t& pos, uint32_t v, int nbits) {
  for (int k = 0; k < nbits; ++k, ++pos)
    if ((v >> k) & 1u) p[pos >> 3] = uint8_t(p[pos >> 3] | (1u << (pos & 7)));
}
uint32_t get_bits(const uint8_t* p, int64_t& pos, int nbits) {
  uint32_t v = 0;
  for (int k = 0; k < nbits; ++k, ++pos) v |= uint32_t((p[pos >> 3] >> (pos & 7)) & 1u) << k;
  return v;
}

}  // namespace

void PackedLinear::derive_layout() {
  const PackedParts& p = parts_;
  SLIM_CHECK(p.rows >= 1 && p.cols >= 1, "packed linear: shape {}x{}, expected at least 1x1", p.rows, p.cols);
  const int64_t G = slim::n_groups(p.cols, p.group_size);
  SLIM_CHECK(int64_t(p.group_bits.size()) == G,
             "packed linear: group_bits has {} entries, expected n_groups = {} (cols {}, group_size {})",
             p.group_bits.size(), G, p.cols, p.group_size);
  const int64_t gw = group_width(p.cols, p.group_size);
  group_col_.assign(size_t(G + 1), 0);
  padded_col_.assign(size_t(G + 1), 0);
  group_offset_.assign(size_t(G), 0);
  onebit_col_.assign(size_t(G), -1);
  row_bytes_ = 0;
  n_onebit_ = 0;
  max_bits_ = 0;
  int64_t zero_bits = 0;
  for (int64_t g = 0; g < G; ++g) {
    const int b = p.group_bits[size_t(g)];
    SLIM_CHECK(b >= 1 && b <= 8, "packed linear: group_bits[{}] = {}, expected 1..8", g, b);
    max_bits_ = std::max(max_bits_, b);
    group_col_[size_t(g)] = g * gw;
    group_offset_[size_t(g)] = row_bytes_;
    const int64_t width = std::min(gw, p.cols - g * gw);
    row_bytes_ += b * plane_bytes(width);
    padded_col_[size_t(g + 1)] = padded_col_[size_t(g)] + 8 * plane_bytes(width);
    if (b == 1)
      onebit_col_[size_t(g)] = int32_t(n_onebit_++);
    else
      zero_bits += b;
  }
  group_col_[size_t(G)] = p.cols;
  zero_row_bytes_ = (zero_bits + 7) / 8;
}

void PackedLinear::check_sizes() const {
  const PackedParts& p = parts_;
  const int64_t R = p.rows, G = n_groups();
  auto check = [](const char* what, size_t actual, int64_t per_row, int64_t rows, const char* layout) {
    SLIM_CHECK(int64_t(actual) == per_row * rows, "packed linear: {} has {} elements, expected {} ({} rows x {} = {})",
               what, actual, per_row * rows, rows, per_row, layout);
  };
  check("codes", p.codes.size(), row_bytes_, R, "row_bytes");
  check("scales", p.scales.size(), G, R, "n_groups");
  check("zeros", p.zeros.size(), zero_row_bytes_, R, "zero_row_bytes");
  check("offsets", p.offsets.size(), n_onebit_, R, "1-bit groups");
}

void PackedLinear::expand_and_check_data() {
  const PackedParts& p = parts_;
  const int64_t R = p.rows, G = n_groups();
  zero_.assign(size_t(R * G + 4), 0);  // + 4 spare bytes (see zero_points())
  for (int64_t r = 0; r < R; ++r) {
    const uint8_t* z = p.zeros.data() + r * zero_row_bytes_;  // (zero_row_bytes)
    int64_t pos = 0;
    for (int64_t g = 0; g < G; ++g)
      if (bits(g) >= 2) zero_[size_t(r * G + g)] = uint8_t(get_bits(z, pos, bits(g)));
    // Padding bits must be zero: a writer that disagrees on the layout would
    // most likely leave them set.
    if (pos < zero_row_bytes_ * 8)
      SLIM_CHECK(get_bits(z, pos, int(zero_row_bytes_ * 8 - pos)) == 0,
                 "packed linear: row {}: zero-point padding bits are not zero", r);
  }
  // Plane tail bits past a group's width must be zero: the kernels add x
  // under whole 16-bit masks and rely on that.
  for (int64_t g = 0; g < G; ++g) {
    const int64_t width = group_col_[size_t(g + 1)] - group_col_[size_t(g)];
    if (width % 16 == 0) continue;
    const int64_t last = plane_bytes(width) - 2;  // the last 16-bit chunk of a plane
    const uint32_t valid = (1u << (width % 16)) - 1u;
    for (int64_t r = 0; r < R; ++r)
      for (int j = 0; j < bits(g); ++j) {
        const uint8_t* c = p.codes.data() + r * row_bytes_ + group_offset_[size_t(g)] + j * plane_bytes(width) + last;
        const uint32_t chunk = uint32_t(c[0]) | uint32_t(c[1]) << 8;
        SLIM_CHECK((chunk & ~valid) == 0, "packed linear: row {} group {} plane {}: bits past the group width {} are set",
                   r, g, j, width);
      }
  }
  for (size_t i = 0; i < p.scales.size(); ++i)
    SLIM_CHECK(f16_finite(p.scales[i]), "packed linear: scale {} (row {}, group {}) is not finite", i, i / size_t(G),
               i % size_t(G));
  for (size_t i = 0; i < p.offsets.size(); ++i)
    SLIM_CHECK(f16_finite(p.offsets[i]), "packed linear: 1-bit mean {} is not finite", i);
}

PackedLinear PackedLinear::from_parts(const PackedParts& parts) {
  PackedLinear L;
  L.parts_ = parts;
  L.derive_layout();
  L.check_sizes();
  L.expand_and_check_data();
  return L;
}

PackedLinear PackedLinear::encode(int64_t rows, int64_t cols, int group_size, std::span<const int> group_bits,
                                  std::span<const uint8_t> codes, std::span<const QuantParams> params) {
  PackedLinear L;
  L.own_bits_.resize(group_bits.size());
  for (size_t g = 0; g < group_bits.size(); ++g) {
    SLIM_CHECK(group_bits[g] >= 1 && group_bits[g] <= 8, "packed encode: group_bits[{}] = {}, expected 1..8", g,
               group_bits[g]);
    L.own_bits_[g] = uint8_t(group_bits[g]);
  }
  L.parts_.rows = rows;
  L.parts_.cols = cols;
  L.parts_.group_size = group_size;
  L.parts_.group_bits = L.own_bits_;
  L.derive_layout();
  const int64_t G = L.n_groups();
  SLIM_CHECK(int64_t(codes.size()) == rows * cols, "packed encode: codes has {} elements, expected rows x cols = {}",
             codes.size(), rows * cols);
  SLIM_CHECK(int64_t(params.size()) == rows * G, "packed encode: params has {} elements, expected rows x n_groups = {}",
             params.size(), rows * G);

  L.own_codes_.assign(size_t(rows * L.row_bytes_), 0);
  L.own_scales_.resize(size_t(rows * G));
  L.own_zeros_.assign(size_t(rows * L.zero_row_bytes_), 0);
  L.own_offsets_.resize(size_t(rows * L.n_onebit_));
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* zrow = L.own_zeros_.data() + r * L.zero_row_bytes_;
    int64_t zpos = 0;
    for (int64_t g = 0; g < G; ++g) {
      const int b = L.bits(g);
      const int64_t c0 = L.group_col_[size_t(g)], width = L.group_col_[size_t(g + 1)] - c0;
      const QuantParams& qp = params[size_t(r * G + g)];
      const uint16_t scale = f32_to_f16(qp.scale);
      SLIM_CHECK(std::isfinite(qp.scale) && f16_finite(scale), "packed encode: row {} group {}: scale {} is not a finite fp16",
                 r, g, qp.scale);
      L.own_scales_[size_t(r * G + g)] = scale;
      if (b == 1) {
        const uint16_t mean = f32_to_f16(qp.zero);
        SLIM_CHECK(std::isfinite(qp.zero) && f16_finite(mean), "packed encode: row {} group {}: 1-bit mean {} is not a finite fp16",
                   r, g, qp.zero);
        L.own_offsets_[size_t(r * L.n_onebit_ + L.onebit_col_[size_t(g)])] = mean;
      } else {
        const float maxz = float((1 << b) - 1);
        SLIM_CHECK(qp.zero >= 0.f && qp.zero <= maxz && qp.zero == std::floor(qp.zero),
                   "packed encode: row {} group {}: zero point {} is not an integer in [0, {}] ({} bits)", r, g, qp.zero,
                   int(maxz), b);
        put_bits(zrow, zpos, uint32_t(qp.zero), b);
      }
      uint8_t* planes = L.own_codes_.data() + r * L.row_bytes_ + L.group_offset_[size_t(g)];  // (b, plane_bytes)
      const int64_t pb = plane_bytes(width);
      for (int64_t i = 0; i < width; ++i) {
        const uint32_t q = codes[size_t(r * cols + c0 + i)];
        SLIM_CHECK(q < (1u << b), "packed encode: code {} at ({}, {}) does not fit {} bits", q, r, c0 + i, b);
        for (int j = 0; j < b; ++j)
          if ((q >> j) & 1u) planes[j * pb + i / 8] = uint8_t(planes[j * pb + i / 8] | (1u << (i % 8)));
      }
    }
  }
  L.parts_.codes = L.own_codes_;
  L.parts_.scales = L.own_scales_;
  L.parts_.zeros = L.own_zeros_;
  L.parts_.offsets = L.own_offsets_;
  L.check_sizes();
  L.expand_and_check_data();
  return L;
}

std::span<const uint8_t> PackedLinear::int8_tiles() const {
  std::call_once(tiles_->once, [this] {
    const size_t n = size_t(int8_tile_bytes());
    if (n == 0) return;
    // A mapping of its own rather than a std::vector: no zero fill before
    // build_int8_tiles writes every byte (the fill was ~9% of a first decode
    // token, perf), and transparent huge pages where the system allows them
    // (one page fault per 2 MB instead of per 4 KB: AnonBuffer advises them).
    tiles_->bytes = AnonBuffer(n, fmt::format("int8 decode tiles of a {}x{} linear", rows(), cols()));
    uint8_t* out = tiles_->bytes.as<uint8_t>();
    pack_detail::build_int8_tiles_dispatched(*this, out);
    pack_detail::build_int8_meta(*this, out + pack_detail::int8_meta_layout(*this).start);
  });
  return {tiles_->bytes.as<uint8_t>(), tiles_->bytes.size()};
}

int64_t PackedLinear::int8_tile_bytes() const {
  const pack_detail::Int8Meta lay = pack_detail::int8_meta_layout(*this);
  return lay.start + rows() / 16 * lay.bytes;
}

int64_t PackedLinear::packed_bytes() const {
  return int64_t(parts_.codes.size() + 2 * parts_.scales.size() + parts_.zeros.size() + 2 * parts_.offsets.size());
}

void PackedLinear::dequantize_rows_reference(int64_t r0, int64_t r1, float* out, int64_t ldo) const {
  SLIM_CHECK(0 <= r0 && r0 <= r1 && r1 <= rows(), "dequantize_rows: rows [{}, {}) outside [0, {})", r0, r1, rows());
  const int64_t G = n_groups();
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * ldo;
    for (int64_t g = 0; g < G; ++g) {
      const int b = bits(g);
      const int64_t c0 = group_col_[size_t(g)], width = group_col_[size_t(g + 1)] - c0, pb = plane_bytes(width);
      const uint8_t* planes = parts_.codes.data() + r * row_bytes_ + group_offset_[size_t(g)];  // (b, pb)
      const float scale = f16_to_f32(parts_.scales[size_t(r * G + g)]);
      for (int64_t i = 0; i < width; ++i) {
        const int q = plane_code(planes, pb, b, i);
        if (b == 1) {
          const float mean = f16_to_f32(parts_.offsets[size_t(r * n_onebit_ + onebit_col_[size_t(g)])]);
          o[c0 + i] = float(2 * q - 1) * scale + mean;
        } else {
          o[c0 + i] = scale * (float(q) - float(zero_[size_t(r * G + g)]));
        }
      }
    }
  }
}

void PackedLinear::matmul_reference(const float* x, float* y, int64_t T) const {
  std::vector<float> w(static_cast<size_t>(cols()));  // (cols) one dequantized row
  for (int64_t r = 0; r < rows(); ++r) {
    dequantize_rows_reference(r, r + 1, w.data(), cols());
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (int64_t c = 0; c < cols(); ++c) s += double(w[size_t(c)]) * double(x[t * cols() + c]);
      y[t * rows() + r] = float(s);
    }
  }
}

}  // namespace slim
