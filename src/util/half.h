// IEEE fp16 and bfloat16 <-> fp32 conversions (scalar, exact; round to nearest
// even on the way down). Used at load time and when writing checkpoints.
#pragma once
#include <cstdint>
#include <cstring>
#include <span>

namespace slim {

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

void f16_to_f32(std::span<const uint16_t> in, std::span<float> out);
void bf16_to_f32(std::span<const uint16_t> in, std::span<float> out);

}  // namespace slim
