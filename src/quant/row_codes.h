// Quantized rows in the form the packed format stores them (issue 15): each
// weight's integer code at its group's width, and each group's scale and
// zero as fp16. GPTQ with several ranks (quant/gptq_ranks.cc) sends a rank's
// rows to the others this way, ~bits + 32 / group_size bits per weight
// instead of fp32's 32, and every rank dequantizes them with dequant_code,
// the same arithmetic as fake_quant. encode_rows checks that the codes give
// back the sender's weights bit for bit (so every rank, and a one-rank run,
// holds the same fp32 weights); where they do not (parameters the packed
// format cannot store), it sends fp32 instead, flagged in the first byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "quant/quantizer.h"

namespace slim {

// The shape both sides know: columns, the group of each column (GPTQ's g_idx,
// act-order included) and each group's width in bits.
struct RowLayout {
  int64_t cols = 0;
  std::span<const int> g_idx;       // (cols) group of each column
  std::span<const int> group_bits;  // (groups) bits per group, 1..8
  int64_t groups() const { return int64_t(group_bits.size()); }
  // Bytes of one row's codes (a row starts on a byte, so rows encode in parallel).
  int64_t code_bytes_per_row() const;
};

// The value code `code` stands for under p, exactly as fake_quant computes it.
inline float dequant_code(int code, const QuantParams& p, int bits) {
  if (bits == 1) return (code != 0 ? p.scale : -p.scale) + p.zero;
  return p.scale * (float(code) - p.zero);
}

// q: (rows, cols) fake-quantized weights; params: (rows, groups). Throws
// slim::Error when the shapes disagree with the layout.
std::vector<std::byte> encode_rows(std::span<const float> q, std::span<const QuantParams> params, int64_t rows,
                                   const RowLayout& lay);
// True when `encoded` (from encode_rows) holds codes, false when fp32.
bool encoded_as_codes(std::span<const std::byte> encoded);
// Reads `rows` rows from the front of `in` into q (rows, cols) and params
// (rows, groups); returns the bytes read. Throws slim::Error on a short or
// malformed message.
size_t decode_rows(std::span<const std::byte> in, int64_t rows, const RowLayout& lay, float* q, QuantParams* params);

}  // namespace slim
