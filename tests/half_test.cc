// util/half.h's fp16 conversions (F16C on x86-64, fcvt on aarch64: src/util/arch.h)
// against the IEEE rules they must follow on either architecture.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "util/half.h"

namespace slim {
namespace {

bool is_nan16(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

// Every non-NaN pattern widens exactly (the span version agrees with the
// scalar one bit for bit) and narrows back to itself.
TEST(Half, EveryPatternRoundTrips) {
  std::vector<uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[size_t(i)] = uint16_t(i);
  std::vector<float> wide(all.size());
  f16_to_f32(all, wide);
  for (int i = 0; i < 65536; ++i) {
    const uint16_t h = uint16_t(i);
    const float one = f16_to_f32(h);
    if (is_nan16(h)) {
      ASSERT_TRUE(std::isnan(one) && std::isnan(wide[size_t(i)])) << i;
      ASSERT_TRUE(is_nan16(f32_to_f16(one))) << i;
      continue;
    }
    ASSERT_EQ(std::memcmp(&one, &wide[size_t(i)], 4), 0) << i;
    ASSERT_EQ(f32_to_f16(one), h) << i;
  }
}

// Halfway between two neighbouring fp16 values (exact in fp32) goes to the one
// with an even mantissa; one fp32 ulp either side goes to the nearer one.
TEST(Half, NarrowingRoundsToNearestEven) {
  for (uint16_t sign : {uint16_t(0), uint16_t(0x8000)})
    for (uint16_t m = 0; m < 0x7bff; ++m) {
      const uint16_t a = uint16_t(sign | m), b = uint16_t(sign | (m + 1));
      const float fa = f16_to_f32(a), fb = f16_to_f32(b);
      const float mid = 0.5f * (fa + fb);
      ASSERT_EQ(f32_to_f16(mid), (m % 2 == 0) ? a : b) << m;
      ASSERT_EQ(f32_to_f16(std::nextafter(mid, fa)), a) << m;
      ASSERT_EQ(f32_to_f16(std::nextafter(mid, fb)), b) << m;
    }
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7bff);   // below the max's halfway point
  EXPECT_EQ(f32_to_f16(65520.f), 0x7c00);     // halfway to 2^16 rounds to even: inf
  EXPECT_EQ(f32_to_f16(-1e9f), 0xfc00);
  EXPECT_EQ(f32_to_f16(1e-9f), 0x0000);       // below half the smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.f, -24)), 0x0001);
}

}  // namespace
}  // namespace slim
