// Storage cost of a quantized linear, counted the way the tables report it:
// codes at b bits per weight, plus per (row, group) an fp16 scale and a zero
// point at the group's bit width (b >= 2) or an fp16 mean (1-bit groups).
#pragma once
#include <cstdint>
#include <span>

namespace slim {

// Total bits of a (rows, cols) linear with the given per-group bit widths.
inline double linear_storage_bits(int64_t rows, int64_t cols, int group_size, std::span<const int> group_bits) {
  const int64_t gw = group_size <= 0 ? cols : group_size;
  double bits = 0;
  for (size_t g = 0; g < group_bits.size(); ++g) {
    const int64_t width = std::min<int64_t>(gw, cols - int64_t(g) * gw);
    const int b = group_bits[g];
    bits += double(rows) * (double(width) * b + 16.0 + (b == 1 ? 16.0 : double(b)));
  }
  return bits;
}

}  // namespace slim
