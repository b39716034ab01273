#include "quant/row_codes.h"

#include <cstring>

#include "util/error.h"
#include "util/half.h"

namespace slim {

namespace {

enum Kind : uint8_t { kFp32 = 0, kCodes = 1 };

void check_layout(const RowLayout& lay) {
  SLIM_CHECK(lay.cols > 0 && int64_t(lay.g_idx.size()) == lay.cols && lay.groups() > 0,
             "internal: row layout of {} columns with {} group indices and {} groups", lay.cols, lay.g_idx.size(),
             lay.groups());
  for (int g : lay.g_idx) SLIM_CHECK(g >= 0 && g < lay.groups(), "internal: column group {} of {}", g, lay.groups());
  for (int b : lay.group_bits) SLIM_CHECK(b >= 1 && b <= 8, "internal: group width {} bits", b);
}

// Whether v survives fp16 storage unchanged.
bool f16_exact(float v) {
  const float back = f16_to_f32(f32_to_f16(v));
  return std::memcmp(&back, &v, sizeof v) == 0;
}

// The codes of one row, LSB first at each column's width; false when they do
// not give back the row bit for bit.
bool encode_row(const float* q, const QuantParams* p, const RowLayout& lay, uint8_t* out) {
  std::memset(out, 0, size_t(lay.code_bytes_per_row()));
  int64_t bit = 0;
  for (int64_t c = 0; c < lay.cols; ++c) {
    const int g = lay.g_idx[size_t(c)], b = lay.group_bits[size_t(g)];
    const int code = quant_code(q[c], p[g], b);
    const float back = dequant_code(code, p[g], b);
    if (std::memcmp(&back, &q[c], sizeof back) != 0) return false;
    for (int j = 0; j < b; ++j, ++bit) out[bit >> 3] |= uint8_t(((code >> j) & 1) << (bit & 7));
  }
  return true;
}

void decode_row(const uint8_t* in, const QuantParams* p, const RowLayout& lay, float* q) {
  int64_t bit = 0;
  for (int64_t c = 0; c < lay.cols; ++c) {
    const int g = lay.g_idx[size_t(c)], b = lay.group_bits[size_t(g)];
    int code = 0;
    for (int j = 0; j < b; ++j, ++bit) code |= ((in[bit >> 3] >> (bit & 7)) & 1) << j;
    q[c] = dequant_code(code, p[g], b);
  }
}

}  // namespace

int64_t RowLayout::code_bytes_per_row() const {
  int64_t bits = 0;
  for (int g : g_idx) bits += group_bits[size_t(g)];
  return (bits + 7) / 8;
}

std::vector<std::byte> encode_rows(std::span<const float> q, std::span<const QuantParams> params, int64_t rows,
                                   const RowLayout& lay) {
  check_layout(lay);
  const int64_t G = lay.groups(), rb = lay.code_bytes_per_row();
  SLIM_CHECK(rows >= 0 && int64_t(q.size()) == rows * lay.cols && int64_t(params.size()) == rows * G,
             "internal: encoding {} rows of {} columns from {} weights and {} parameters", rows, lay.cols, q.size(),
             params.size());
  bool ok = true;
  for (const QuantParams& p : params) ok = ok && f16_exact(p.scale) && f16_exact(p.zero);
  std::vector<std::byte> out;
  if (ok) {
    out.assign(1 + size_t(rows * G) * 4 + size_t(rows * rb), std::byte{0});
    out[0] = std::byte{kCodes};
    auto* sz = reinterpret_cast<uint8_t*>(out.data() + 1);  // (rows, G) fp16 scale, fp16 zero
    for (size_t i = 0; i < params.size(); ++i) {
      const uint16_t h[2] = {f32_to_f16(params[i].scale), f32_to_f16(params[i].zero)};
      std::memcpy(sz + i * 4, h, 4);
    }
    auto* codes = sz + size_t(rows * G) * 4;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) if (rows * lay.cols > (1 << 18))
    for (int64_t r = 0; r < rows; ++r)
      bad += encode_row(q.data() + r * lay.cols, params.data() + r * G, lay, codes + r * rb) ? 0 : 1;
    if (bad == 0) return out;
  }
  out.assign(1 + q.size_bytes() + params.size_bytes(), std::byte{0});
  out[0] = std::byte{kFp32};
  std::memcpy(out.data() + 1, q.data(), q.size_bytes());
  std::memcpy(out.data() + 1 + q.size_bytes(), params.data(), params.size_bytes());
  return out;
}

bool encoded_as_codes(std::span<const std::byte> encoded) {
  return !encoded.empty() && encoded[0] == std::byte{kCodes};
}

size_t decode_rows(std::span<const std::byte> in, int64_t rows, const RowLayout& lay, float* q, QuantParams* params) {
  check_layout(lay);
  const int64_t G = lay.groups(), rb = lay.code_bytes_per_row();
  SLIM_CHECK(!in.empty() && (in[0] == std::byte{kCodes} || in[0] == std::byte{kFp32}),
             "internal: quantized rows message of {} bytes has no valid kind byte", in.size());
  if (in[0] == std::byte{kFp32}) {
    const size_t need = 1 + size_t(rows * lay.cols) * sizeof(float) + size_t(rows * G) * sizeof(QuantParams);
    SLIM_CHECK(in.size() >= need, "internal: fp32 rows message of {} bytes, {} rows need {}", in.size(), rows, need);
    std::memcpy(q, in.data() + 1, size_t(rows * lay.cols) * sizeof(float));
    std::memcpy(params, in.data() + 1 + size_t(rows * lay.cols) * sizeof(float), size_t(rows * G) * sizeof(QuantParams));
    return need;
  }
  const size_t need = 1 + size_t(rows * G) * 4 + size_t(rows * rb);
  SLIM_CHECK(in.size() >= need, "internal: coded rows message of {} bytes, {} rows need {}", in.size(), rows, need);
  const auto* sz = reinterpret_cast<const uint8_t*>(in.data() + 1);
  for (int64_t i = 0; i < rows * G; ++i) {
    uint16_t h[2];
    std::memcpy(h, sz + i * 4, 4);
    params[i] = {f16_to_f32(h[0]), f16_to_f32(h[1])};
  }
  const uint8_t* codes = sz + size_t(rows * G) * 4;
#pragma omp parallel for schedule(static) if (rows * lay.cols > (1 << 18))
  for (int64_t r = 0; r < rows; ++r) decode_row(codes + r * rb, params + r * G, lay, q + r * lay.cols);
  return need;
}

}  // namespace slim
