// One quantized linear in the packed "slim-packed" layout, and the products
// that read it directly (decode GEMV, prefill GEMM). docs/FORMAT.md specifies
// the file around it; this header specifies the per-linear layout.
//
// A linear W is (rows = out_features, cols = in_features); groups of
// `group_size` input columns (the last one may be partial; group_size <= 0:
// one group per row). Group g has width w_g and bit width b_g in 1..8, the
// same for every row (SliM-LLM's bit map is per column group).
//
// Dequantized weight of (r, c) in group g with integer code q:
//   b_g >= 2:  W[r,c] = scale[r,g] * (q - zero[r,g])     zero an integer in [0, 2^b-1]
//   b_g == 1:  W[r,c] = (2q - 1) * scale[r,g] + mean[r,g] q in {0,1}
// evaluated in fp32 exactly as written (fake_quant's arithmetic), so
// dequantize_rows() reproduces the fake-quantized weights bit for bit.
//
// Codes are stored as bit planes. Per row, the groups follow each other in
// order; group g holds b_g planes (plane j = bit j of every code, j = 0 is
// the least significant); a plane is `plane_bytes(w_g)` = 2*ceil(w_g/16) bytes,
// column i of the group at bit (i % 8) of byte (i / 8) (LSB first), unused
// tail bits zero. So a row is row_bytes = Σ_g b_g * plane_bytes(w_g) bytes,
// identical for every row, and 1-bit groups really take 1 bit per weight.
// A 16-column plane chunk is one 16-bit lane mask: kernels add x (times 2^j)
// under that mask.
//
// Zero points: per row one bit stream, for each group with b_g >= 2 its zero
// in b_g bits (LSB first, groups in order; 1-bit groups take no bits), padded
// to whole bytes: zero_row_bytes = ceil(Σ_{g: b_g>=2} b_g / 8).
// 1-bit means ("offsets"): fp16, (rows, n_onebit) with the 1-bit groups in
// group order. Scales: fp16, (rows, n_groups).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "quant/quantizer.h"
#include "util/anon_buffer.h"

namespace slim {

inline int64_t plane_bytes(int64_t width) { return 2 * ((width + 15) / 16); }

// The code of column i of a group stored as b planes of pb bytes each, read
// bit by bit (the scalar references' way).
inline int plane_code(const uint8_t* planes, int64_t pb, int b, int64_t i) {
  int q = 0;
  for (int j = 0; j < b; ++j) q |= ((planes[j * pb + i / 8] >> (i % 8)) & 1) << j;
  return q;
}

// The serialised parts of a packed linear (what the file stores), as spans
// into memory owned elsewhere (a mapped file, or PackedLinear's own vectors).
struct PackedParts {
  int64_t rows = 0, cols = 0;
  int group_size = 0;                  // <= 0: one group per row
  std::span<const uint8_t> group_bits;  // (n_groups) 1..8
  std::span<const uint8_t> codes;       // (rows, row_bytes) bit planes
  std::span<const uint16_t> scales;     // (rows, n_groups) fp16
  std::span<const uint8_t> zeros;       // (rows, zero_row_bytes) packed zero points
  std::span<const uint16_t> offsets;    // (rows, n_onebit) fp16 1-bit means
};

// A packed linear ready for the kernels: the parts plus the tables derived
// once at load time (group byte offsets inside a row, expanded zero points,
// the offsets column of each 1-bit group). Moveable; the parts' memory must
// outlive it unless it owns them (encode()).
class PackedLinear {
 public:
  PackedLinear() = default;
  PackedLinear(PackedLinear&&) = default;  // spans into owned vectors survive a move
  PackedLinear& operator=(PackedLinear&&) = default;
  PackedLinear(const PackedLinear&) = delete;
  PackedLinear& operator=(const PackedLinear&) = delete;

  // Validates every size against rows/cols/group_size/group_bits (throws
  // slim::Error naming the problem: the caller prefixes file and tensor) and
  // zero points in range. Non-owning: parts' spans must stay valid.
  static PackedLinear from_parts(const PackedParts& parts);

  // Packs integer codes (rows, cols) with params (rows, n_groups) and bits per
  // group. Owns its buffers. codes must fit their group's bits; b >= 2 zeros
  // must be integers in [0, 2^b-1]; scales/means are converted to fp16 (they
  // should already be fp16 values: quantizers return storable params).
  static PackedLinear encode(int64_t rows, int64_t cols, int group_size, std::span<const int> group_bits,
                             std::span<const uint8_t> codes, std::span<const QuantParams> params);

  const PackedParts& parts() const { return parts_; }
  int64_t rows() const { return parts_.rows; }
  int64_t cols() const { return parts_.cols; }
  int64_t n_groups() const { return int64_t(parts_.group_bits.size()); }
  int64_t row_bytes() const { return row_bytes_; }
  int64_t zero_row_bytes() const { return zero_row_bytes_; }
  int bits(int64_t g) const { return parts_.group_bits[size_t(g)]; }
  // The widest group's bits (1..8).
  int max_bits() const { return max_bits_; }
  // Bytes a product reads: codes + scales + zeros + offsets.
  int64_t packed_bytes() const;

  // out (r1 - r0, cols), row stride ldo: dequantized rows r0..r1-1.
  void dequantize_rows(int64_t r0, int64_t r1, float* out, int64_t ldo) const;
  // y (T, rows) = x (T, cols) · Wᵀ, row strides ldx/ldy (<= 0: dense).
  // T == 1 (and small T) run the bit-plane GEMV kernel (runtime-dispatched
  // AVX2 / AVX-512, OpenMP over rows); larger T the GEMM: row panels
  // dequantized into a bounded scratch and sgemm, or the int8 GEMM (from
  // the T measured per target and path: GemmMinTokens in packed_kernels.cc).
  void matmul(const float* x, float* y, int64_t T, int64_t ldx = -1, int64_t ldy = -1) const;
  // ys[i] (T, Ls[i]->rows(), dense) = x (T, cols, row stride ldx <= 0: dense)
  // · W_iᵀ for linears that read the same x (q/k/v; gate/up). Where matmul()
  // would take the GEMV for each and they share cols and groups, x and its
  // lookup tables are prepared once and all rows run in one parallel region
  // (one fork/join instead of one per linear); otherwise one matmul() each.
  // Either way every ys[i] equals Ls[i]->matmul()'s bit for bit.
  static void matmul_shared_input(std::span<const PackedLinear* const> Ls, const float* x, std::span<float* const> ys,
                                  int64_t T, int64_t ldx = -1);
  // The most linears one matmul_shared_input() call shares (more: one matmul() each).
  static constexpr size_t kMaxSharedInput = 8;

  // Scalar references, straight from the formulas above; the tests compare
  // the kernels against them.
  void dequantize_rows_reference(int64_t r0, int64_t r1, float* out, int64_t ldo) const;
  void matmul_reference(const float* x, float* y, int64_t T) const;  // dense strides

  // Derived tables (public for kernels and tests).
  std::span<const int64_t> group_offsets() const { return group_offset_; }  // (n_groups) byte offset in a row
  std::span<const int64_t> group_columns() const { return group_col_; }     // (n_groups + 1) first column of each group, then cols
  // (n_groups + 1) first column of each group in a copy of x where every
  // group is zero-padded to a multiple of 16 columns (the plane chunks), then
  // the padded width: the GEMV kernel reads whole 16-column chunks of x.
  std::span<const int64_t> padded_columns() const { return padded_col_; }
  // (rows, n_groups); 0 for 1-bit groups. Followed in memory by 4 spare bytes
  // (kernels gather 4-byte words at any element).
  std::span<const uint8_t> zero_points() const { return {zero_.data(), size_t(parts_.rows * n_groups())}; }
  std::span<const int32_t> onebit_column() const { return onebit_col_; }     // (n_groups) offsets column or -1
  int64_t n_onebit() const { return n_onebit_; }
  // The codes of rows [0, rows / 16 * 16) re-laid in 16-row tiles for the
  // x86 int8 GEMV (pack_detail::build_int8_tiles, int8_gemv.h): built on the
  // first call (thread-safe) and kept, as many bytes again as those rows'
  // codes and their scales, in anonymous memory. The file's layout stays the
  // one above.
  std::span<const uint8_t> int8_tiles() const;
  // Builds int8_tiles() now when the dispatched decode GEMV reads them (x86
  // target, int8 kernel on, a large enough layer), so that a session pays
  // the build at load, as llama.cpp repacks its weights at load, not in its
  // first decoded token. Returns the tiles' bytes (0: the kernel reads none).
  int64_t prepare_for_decode() const;
  // Bytes int8_tiles() takes once built (whether or not the kernel reads them):
  // the codes of those rows and their per-block scales (int8_gemv.h).
  int64_t int8_tile_bytes() const;

 private:
  // Builders shared by from_parts() and encode(), in this order: the layout
  // tables from rows/cols/group_bits, the span sizes against them, then the
  // data (zero points expanded; padding and plane tail bits zero, fp16 finite).
  void derive_layout();
  void check_sizes() const;
  void expand_and_check_data();

  PackedParts parts_;
  int64_t row_bytes_ = 0, zero_row_bytes_ = 0, n_onebit_ = 0;
  int max_bits_ = 0;
  std::vector<int64_t> group_offset_, group_col_, padded_col_;
  std::vector<uint8_t> zero_;
  std::vector<int32_t> onebit_col_;
  // Owned storage when built by encode() (parts_ points into it).
  std::vector<uint8_t> own_bits_, own_codes_, own_zeros_;
  std::vector<uint16_t> own_scales_, own_offsets_;
  // int8_tiles(), built once (a pointer so that PackedLinear stays moveable).
  struct LazyTiles {
    std::once_flag once;
    AnonBuffer bytes;  // not zero-filled by us: every byte is written
  };
  std::unique_ptr<LazyTiles> tiles_ = std::make_unique<LazyTiles>();
};

// Name of the SIMD target the kernels dispatch to on this CPU (hwy::TargetName,
// e.g. "AVX3" for AVX-512 or "AVX2").
const char* packed_kernel_target();

}  // namespace slim
