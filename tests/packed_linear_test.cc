// PackedLinear tests: encode -> dequantize reproduces fake_quant bit for bit
// for every bit width and mixes over odd shapes (partial groups, per-row
// groups, group sizes that are not multiples of 16); from_parts/encode reject
// every wrong size and hostile value; the kernels agree with the scalar
// references.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <hwy/targets.h>

#include "pack/int8_gemm.h"
#include "pack/int8_gemv.h"
#include "pack/packed_kernels.h"
#include "pack/packed_linear.h"
#include "quant/quantizer.h"
#include "gemv_kernel_scope.h"
#include "test_util.h"
#include "util/error.h"

using namespace slim;

namespace {

// A quantized layer the way the pipeline makes one: weights, per-(row, group)
// min-max params, integer codes, and fake_quant's dequantized weights.
struct Quantized {
  int64_t rows, cols;
  int group_size;
  std::vector<int> bits;              // (n_groups)
  std::vector<uint8_t> codes;         // (rows, cols)
  std::vector<QuantParams> params;    // (rows, n_groups)
  std::vector<float> fake;            // (rows, cols) fake_quant(w)
};

Quantized quantize(int64_t rows, int64_t cols, int group_size, std::vector<int> bits, uint32_t seed) {
  Quantized q{rows, cols, group_size, std::move(bits), {}, {}, {}};
  const int64_t G = n_groups(cols, group_size), gw = group_width(cols, group_size);
  EXPECT_EQ(int64_t(q.bits.size()), G);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  q.codes.resize(size_t(rows * cols));
  q.fake.resize(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < G; ++g) {
      const int64_t c0 = g * gw, c1 = std::min(cols, c0 + gw);
      std::vector<float> w(size_t(c1 - c0));
      const float shift = 0.3f * nd(rng);  // so zero points and 1-bit means vary
      for (auto& v : w) v = nd(rng) + shift;
      const int b = q.bits[size_t(g)];
      const QuantParams p = fit_minmax(w, b);
      q.params.push_back(p);
      for (int64_t c = c0; c < c1; ++c) {
        q.codes[size_t(r * cols + c)] = uint8_t(quant_code(w[size_t(c - c0)], p, b));
        q.fake[size_t(r * cols + c)] = fake_quant(w[size_t(c - c0)], p, b);
      }
    }
  return q;
}

PackedLinear encode(const Quantized& q) {
  return PackedLinear::encode(q.rows, q.cols, q.group_size, q.bits, q.codes, q.params);
}

std::vector<int> uniform_bits(int64_t cols, int group_size, int b) {
  return std::vector<int>(size_t(n_groups(cols, group_size)), b);
}
std::vector<int> random_bits(int64_t cols, int group_size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> bits(size_t(n_groups(cols, group_size)));
  for (auto& b : bits) b = 1 + int(rng() % 8);
  return bits;
}

// Runs f(target name) once per compiled SIMD target this CPU supports (so the
// AVX2 kernels are tested on an AVX-512 machine too), then restores dispatch.
template <typename F>
void for_each_target(F&& f) {
  const auto targets = pack_detail::compiled_targets();
  ASSERT_FALSE(targets.empty());
  for (int64_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    ASSERT_STREQ(packed_kernel_target(), hwy::TargetName(t));
    f(std::string(hwy::TargetName(t)));
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Inputs of a product: T rows of cols normal values, strided (T, ldx) and dense (T, cols).
struct Inputs {
  std::vector<float> x, xd;
};
Inputs random_inputs(int64_t T, int64_t cols, int64_t ldx, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  Inputs in{std::vector<float>(size_t(T * ldx)), std::vector<float>(size_t(T * cols))};
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < cols; ++c) in.x[size_t(t * ldx + c)] = in.xd[size_t(t * cols + c)] = nd(rng);
  return in;
}

struct Shape {
  int64_t rows, cols;
  int group_size;
};
// Rows not a multiple of any SIMD width or row block; cols with partial last
// groups, group sizes 16/24/32/128 and per-row (<= 0).
// Rows >= 8 exercise the AVX2 8-row LUT kernel (block pairs, single blocks,
// a row tail), rows >= 17 the AVX-512 16-row one; both on whole 128-column
// plane pieces, narrower groups and partial last groups.
const Shape kShapes[] = {{1, 1, 16},    {7, 37, 16},   {33, 100, 24}, {5, 130, -1}, {17, 300, 128},
                         {13, 64, 32},  {9, 250, 128}, {3, 17, 0},    {66, 129, 32}, {11, 200, 24},
                         {40, 200, -1}, {50, 80, 16},  {35, 600, 256}};

void expect_bit_identical(const std::vector<float>& want, const std::vector<float>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(std::memcmp(&want[i], &got[i], 4), 0) << what << " at " << i << ": " << want[i] << " vs " << got[i];
}

void check_dequantize(const Quantized& q, const std::string& what) {
  const PackedLinear L = encode(q);
  std::vector<float> ref(size_t(q.rows * q.cols)), fast(ref.size());
  L.dequantize_rows_reference(0, q.rows, ref.data(), q.cols);
  expect_bit_identical(q.fake, ref, what + " reference");
  L.dequantize_rows(0, q.rows, fast.data(), q.cols);
  expect_bit_identical(q.fake, fast, what + " dequantize_rows");
  // A sub-range into a strided buffer.
  if (q.rows >= 3) {
    const int64_t r0 = 1, r1 = q.rows - 1, ldo = q.cols + 5;
    std::vector<float> part(size_t((r1 - r0) * ldo), -7.f);
    L.dequantize_rows(r0, r1, part.data(), ldo);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < ldo; ++c) {
        const float got = part[size_t((r - r0) * ldo + c)];
        ASSERT_EQ(got, c < q.cols ? q.fake[size_t(r * q.cols + c)] : -7.f) << what << " rows sub-range " << r << "," << c;
      }
  }
  // The parts alone (what a file holds) give the same weights.
  const PackedLinear V = PackedLinear::from_parts(L.parts());
  V.dequantize_rows(0, q.rows, fast.data(), q.cols);
  expect_bit_identical(q.fake, fast, what + " from_parts");
}

std::string name(const Shape& s, const std::string& bits) {
  return std::to_string(s.rows) + "x" + std::to_string(s.cols) + " gs" + std::to_string(s.group_size) + " " + bits;
}

TEST(PackedLinear, DequantizeEqualsFakeQuantEveryWidth) {
  for_each_target([](const std::string& target) {
    for (const Shape& s : kShapes)
      for (int b = 1; b <= 8; ++b)
        check_dequantize(quantize(s.rows, s.cols, s.group_size, uniform_bits(s.cols, s.group_size, b), 100 + b),
                         target + " " + name(s, std::to_string(b) + " bits"));
  });
}

TEST(PackedLinear, DequantizeEqualsFakeQuantMixedWidths) {
  for_each_target([](const std::string& target) {
    uint32_t seed = 1;
    for (const Shape& s : kShapes)
      for (int rep = 0; rep < 3; ++rep, ++seed)
        check_dequantize(quantize(s.rows, s.cols, s.group_size, random_bits(s.cols, s.group_size, seed), seed),
                         target + " " + name(s, "mixed"));
  });
}

TEST(PackedLinear, LayoutSizes) {
  // 40 cols, groups of 16: widths 16, 16, 8 with 1, 3, 2 bits.
  const Quantized q = quantize(4, 40, 16, {1, 3, 2}, 7);
  const PackedLinear L = encode(q);
  EXPECT_EQ(L.row_bytes(), 1 * 2 + 3 * 2 + 2 * 2);
  EXPECT_EQ(L.zero_row_bytes(), 1);  // 3 + 2 bits
  EXPECT_EQ(L.n_onebit(), 1);
  EXPECT_EQ(L.packed_bytes(), 4 * 12 + 4 * 3 * 2 + 4 * 1 + 4 * 1 * 2);
  EXPECT_EQ(std::vector<int64_t>(L.group_offsets().begin(), L.group_offsets().end()), (std::vector<int64_t>{0, 2, 8}));
  EXPECT_EQ(std::vector<int64_t>(L.group_columns().begin(), L.group_columns().end()),
            (std::vector<int64_t>{0, 16, 32, 40}));
  EXPECT_EQ(std::vector<int32_t>(L.onebit_column().begin(), L.onebit_column().end()), (std::vector<int32_t>{0, -1, -1}));
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(L.zero_points()[size_t(r * 3 + 1)], uint8_t(q.params[size_t(r * 3 + 1)].zero));
    EXPECT_EQ(L.zero_points()[size_t(r * 3)], 0);
  }
}

using slim::test::expect_error;

TEST(PackedLinear, FromPartsRejectsWrongSizes) {
  const Quantized q = quantize(5, 70, 32, {1, 4, 3}, 3);  // widths 32, 32, 6
  const PackedLinear L = encode(q);
  const PackedParts good = L.parts();
  std::vector<uint8_t> big8(100000, 0);
  std::vector<uint16_t> big16(100000, 0);
  auto bad = [&](auto mutate, const std::string& needle) {
    PackedParts p = good;
    mutate(p);
    expect_error([&] { PackedLinear::from_parts(p); }, needle.c_str());
  };
  bad([&](PackedParts& p) { p.group_bits = p.group_bits.first(2); }, "group_bits has 2 entries, expected n_groups = 3");
  bad([&](PackedParts& p) { p.group_size = 16; }, "group_bits has 3 entries, expected n_groups = 5");
  bad([&](PackedParts& p) { p.codes = std::span(big8).first(good.codes.size() - 1); }, "codes has");
  bad([&](PackedParts& p) { p.codes = std::span(big8).first(good.codes.size() + 1); }, "codes has");
  bad([&](PackedParts& p) { p.scales = std::span(big16).first(good.scales.size() - 1); }, "scales has");
  bad([&](PackedParts& p) { p.zeros = std::span(big8).first(good.zeros.size() + 5); }, "zeros has");
  bad([&](PackedParts& p) { p.offsets = std::span(big16).first(0); }, "offsets has 0 elements, expected 5");
  bad([&](PackedParts& p) { p.rows = 6; }, "codes has");
  bad([&](PackedParts& p) { p.rows = 0; }, "shape 0x70");
  const uint8_t bits0[] = {1, 0, 3}, bits9[] = {1, 9, 3};
  bad([&](PackedParts& p) { p.group_bits = bits0; }, "group_bits[1] = 0");
  bad([&](PackedParts& p) { p.group_bits = bits9; }, "group_bits[1] = 9");
}

TEST(PackedLinear, FromPartsRejectsBadData) {
  const Quantized q = quantize(5, 70, 32, {1, 4, 3}, 3);  // zeros: 7 bits per row in 1 byte
  const PackedLinear L = encode(q);
  const PackedParts good = L.parts();
  {
    std::vector<uint8_t> zeros(good.zeros.begin(), good.zeros.end());
    zeros[2] |= 0x80;  // row 2's padding bit
    PackedParts p = good;
    p.zeros = zeros;
    expect_error([&] { PackedLinear::from_parts(p); }, "row 2: zero-point padding");
  }
  {
    std::vector<uint8_t> codes(good.codes.begin(), good.codes.end());
    // Group 2 (width 6) starts after 1*4 + 4*4 bytes; plane 1 bit 7 is past the width.
    codes[size_t(3 * L.row_bytes() + 20 + 2 * 1)] |= 0x80;
    PackedParts p = good;
    p.codes = codes;
    expect_error([&] { PackedLinear::from_parts(p); }, "row 3 group 2 plane 1: bits past the group width 6");
  }
  {
    std::vector<uint16_t> scales(good.scales.begin(), good.scales.end());
    scales[4] = 0x7c00;  // +inf
    PackedParts p = good;
    p.scales = scales;
    expect_error([&] { PackedLinear::from_parts(p); }, "scale 4 (row 1, group 1) is not finite");
  }
  {
    std::vector<uint16_t> offsets(good.offsets.begin(), good.offsets.end());
    offsets[0] = 0x7e00;  // NaN
    PackedParts p = good;
    p.offsets = offsets;
    expect_error([&] { PackedLinear::from_parts(p); }, "1-bit mean 0 is not finite");
  }
}

TEST(PackedLinear, EncodeRejectsHostileInput) {
  const Quantized q = quantize(3, 40, 16, {1, 3, 2}, 5);
  auto bad = [&](auto mutate, const std::string& needle) {
    Quantized m = q;
    mutate(m);
    expect_error([&] { encode(m); }, needle.c_str());
  };
  bad([](Quantized& m) { m.codes[17] = 8; }, "code 8 at (0, 17) does not fit 3 bits");
  bad([](Quantized& m) { m.codes[41] = 2; }, "code 2 at (1, 1) does not fit 1 bits");
  bad([](Quantized& m) { m.params[1].zero = 8.f; }, "zero point 8 is not an integer in [0, 7]");
  bad([](Quantized& m) { m.params[1].zero = -1.f; }, "zero point -1");
  bad([](Quantized& m) { m.params[2].zero = 1.5f; }, "zero point 1.5");
  bad([](Quantized& m) { m.params[2].zero = std::numeric_limits<float>::quiet_NaN(); }, "zero point nan");
  bad([](Quantized& m) { m.params[4].scale = std::numeric_limits<float>::infinity(); }, "scale inf");
  bad([](Quantized& m) { m.params[4].scale = 1e6f; }, "not a finite fp16");
  bad([](Quantized& m) { m.params[3].zero = std::numeric_limits<float>::quiet_NaN(); }, "1-bit mean nan");
  bad([](Quantized& m) { m.codes.pop_back(); }, "codes has 119 elements, expected rows x cols = 120");
  bad([](Quantized& m) { m.params.pop_back(); }, "params has 8 elements, expected rows x n_groups = 9");
  bad([](Quantized& m) { m.bits = {1, 3}; }, "group_bits has 2 entries");
  bad([](Quantized& m) { m.bits = {1, 3, 0}; }, "group_bits[2] = 0");
}

void check_against(const Quantized& q, const std::vector<float>& xd, const std::vector<float>& ref,
                   const std::vector<float>& y, int64_t T, int64_t ldy, const std::string& what);

// y = x·Wᵀ against the reference, for T on both sides of the GEMV/GEMM
// switch and with strided x/y. Tolerance: fp32 rounding of a sum of |w x|.
void check_matmul(const Quantized& q, int64_t T, const std::string& what) {
  // The exact kernels (the int8-table GEMV is approximate: Int8Gemv* tests).
  test::GemvKernelScope exact(false);
  const PackedLinear L = encode(q);
  const int64_t ldx = q.cols + 3, ldy = q.rows + 2;
  const auto [x, xd] = random_inputs(T, q.cols, ldx, uint32_t(T * 31 + q.cols));
  std::vector<float> ref(size_t(T * q.rows));  // (T, rows)
  L.matmul_reference(xd.data(), ref.data(), T);
  // matmul() and both of its paths whatever T (the switch point is tuned).
  // Path 3: the GEMV with the table-lookup kernel off (masked kernel for all rows).
  for (int path = 0; path < 4; ++path) {
    std::vector<float> y(size_t(T * ldy), -5.f);  // (T, ldy)
    if (path == 0) L.matmul(x.data(), y.data(), T, ldx, ldy);
    if (path == 1) pack_detail::gemv_matmul(L, x.data(), y.data(), T, ldx, ldy);
    if (path == 2) pack_detail::gemm_matmul(L, x.data(), y.data(), T, ldx, ldy);
    if (path == 3) {
      pack_detail::tuning().lut = false;
      pack_detail::gemv_matmul(L, x.data(), y.data(), T, ldx, ldy);
      pack_detail::tuning().lut = true;
    }
    check_against(q, xd, ref, y, T, ldy, what + " path " + std::to_string(path));
  }
}

void check_against(const Quantized& q, const std::vector<float>& xd, const std::vector<float>& ref,
                   const std::vector<float>& y, int64_t T, int64_t ldy, const std::string& what) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < ldy; ++r) {
      const float got = y[size_t(t * ldy + r)];
      if (r >= q.rows) {
        ASSERT_EQ(got, -5.f) << what << ": wrote past the row stride";
        continue;
      }
      double mag = 0;
      for (int64_t c = 0; c < q.cols; ++c)
        mag += std::fabs(double(q.fake[size_t(r * q.cols + c)]) * xd[size_t(t * q.cols + c)]);
      ASSERT_NEAR(got, ref[size_t(t * q.rows + r)], 2e-6 * mag + 1e-6) << what << " T=" << T << " t=" << t << " r=" << r;
    }
}

TEST(PackedLinear, MatmulMatchesReference) {
  for_each_target([](const std::string& target) {
    uint32_t seed = 50;
    for (const Shape& s : kShapes)
      for (int64_t T : {1, 2, 3, 4, 5, 7, 8, 17, 70}) {
        check_matmul(quantize(s.rows, s.cols, s.group_size, random_bits(s.cols, s.group_size, seed), seed), T,
                     target + " " + name(s, "mixed"));
        ++seed;
      }
    for (int b = 1; b <= 8; ++b)
      for (int64_t T : {1, 2, 4, 6, 40})
        check_matmul(quantize(37, 300, 128, uniform_bits(300, 128, b), 70 + b), T,
                     target + " " + std::to_string(b) + " bits");
  });
}

// Big enough that the GEMV splits rows between threads and the GEMM path
// uses several panels.
TEST(PackedLinear, MatmulMatchesReferenceLargeLayer) {
  for_each_target([](const std::string& target) {
    const Quantized q = quantize(1030, 520, 128, random_bits(520, 128, 3), 3);
    for (int64_t T : {1, 3, 9}) check_matmul(q, T, target + " 1030x520");
  });
}

// The int8-table GEMV (AVX2 and AVX3 with tuning().int8) against its scalar reference
// (same integers: fp32 summation order only), and that reference against the
// exact product within the worst case of the table rounding (rows after the
// last whole 16-row block: the exact kernels): per lookup
// st_g / 2, weighted 2^j per plane, times |scale| (2 |scale| at 1 bit).
void check_int8(const Quantized& q, int64_t T, const std::string& what) {
  const PackedLinear L = encode(q);
  const int64_t G = L.n_groups(), ldx = q.cols + 3, ldy = q.rows + 2;
  const auto pcol = L.padded_columns();
  const auto [x, xd] = random_inputs(T, q.cols, ldx, uint32_t(T * 17 + q.cols));
  std::vector<float> exact(size_t(T * q.rows)), ref(exact.size()), y(size_t(T * ldy), -5.f);
  L.matmul_reference(xd.data(), exact.data(), T);
  pack_detail::matmul_reference_int8(L, xd.data(), ref.data(), T);
  {
    test::GemvKernelScope int8(true);
    pack_detail::gemv_matmul(L, x.data(), y.data(), T, ldx, ldy);
  }
  for (int64_t t = 0; t < T; ++t) {
    // This token's table scales, from its zero-padded x.
    std::vector<float> xp(static_cast<size_t>(pcol[size_t(G)]), 0.f), st(static_cast<size_t>(G));
    std::vector<int8_t> tq(size_t(16 * (pcol[size_t(G)] / 4)));
    const auto gcol = L.group_columns();
    for (int64_t g = 0; g < G; ++g)
      for (int64_t c = gcol[size_t(g)]; c < gcol[size_t(g + 1)]; ++c)
        xp[size_t(pcol[size_t(g)] + c - gcol[size_t(g)])] = xd[size_t(t * q.cols + c)];
    pack_detail::build_int8_tables(L, xp.data(), tq.data(), st.data());
    for (int64_t r = 0; r < q.rows; ++r) {
      // Rows past the last whole 16-row block take the exact kernels.
      const bool int8_row = r < q.rows / 16 * 16;
      const float got = y[size_t(t * ldy + r)];
      const float want = int8_row ? ref[size_t(t * q.rows + r)] : exact[size_t(t * q.rows + r)];
      double mag = 0, bound = 0, wmax = 0;
      for (int64_t c = 0; c < q.cols; ++c) wmax = std::max(wmax, double(std::fabs(q.fake[size_t(r * q.cols + c)])));
      for (int64_t c = 0; c < q.cols; ++c)
        mag += (std::fabs(q.fake[size_t(r * q.cols + c)]) + 2 * wmax) * std::fabs(xd[size_t(t * q.cols + c)]);
      for (int64_t g = 0; g < G; ++g) {
        const int b = q.bits[size_t(g)];
        const double f = (b == 1 ? 2.0 : 1.0) * std::fabs(q.params[size_t(r * G + g)].scale);
        bound += f * ((1 << b) - 1) * double(pcol[size_t(g + 1)] - pcol[size_t(g)]) / 4 * st[size_t(g)] / 2;
      }
      ASSERT_NEAR(got, want, 4e-6 * mag + 1e-5) << what << " kernel vs int8 reference T=" << T << " t=" << t << " r=" << r;
      ASSERT_NEAR(ref[size_t(t * q.rows + r)], exact[size_t(t * q.rows + r)], bound + 4e-6 * mag + 1e-5)
          << what << " int8 reference vs exact T=" << T << " t=" << t << " r=" << r;
    }
    for (int64_t r = q.rows; r < ldy; ++r) ASSERT_EQ(y[size_t(t * ldy + r)], -5.f) << what << ": wrote past the row stride";
  }
}

TEST(PackedLinear, Int8GemvMatchesInt8Reference) {
  for_each_target([](const std::string& target) {
    if (target != "AVX2" && target != "AVX3") return;  // the int8-table kernel is x86's (others ignore tuning().int8)
    uint32_t seed = 500;
    for (const Shape& s : kShapes)
      for (int64_t T : {1, 2, 3, 9}) {
        check_int8(quantize(s.rows, s.cols, s.group_size, random_bits(s.cols, s.group_size, seed), seed), T,
                   target + " " + name(s, "mixed"));
        ++seed;
      }
    for (int b = 1; b <= 8; ++b)
      for (int64_t T : {1, 3}) check_int8(quantize(37, 300, 128, uniform_bits(300, 128, b), 90 + b), T,
                                          target + " " + std::to_string(b) + " bits");
    // Groups narrower than 128 columns (whole planes share a 16-byte window)
    // and wide groups with a partial 16-byte tail, every width 1-8; rows a
    // multiple of 16, so the last block reads its last groups staged.
    const Shape narrow[] = {{64, 64, 64}, {32, 172, 128}, {48, 200, 64}, {16, 96, 16}, {32, 96, 32},
                            {16, 120, 40}, {16, 400, 200}, {32, 70, 56}};
    for (const Shape& s : narrow) {
      for (int b = 1; b <= 8; ++b)
        check_int8(quantize(s.rows, s.cols, s.group_size, uniform_bits(s.cols, s.group_size, b), 200 + b), b % 2 + 1,
                   target + " " + name(s, std::to_string(b) + " bits"));
      check_int8(quantize(s.rows, s.cols, s.group_size, random_bits(s.cols, s.group_size, seed), seed), 2,
                 target + " " + name(s, "mixed"));
      ++seed;
    }
    const Quantized big = quantize(1030, 520, 128, random_bits(520, 128, 4), 4);  // split between threads
    check_int8(big, 1, target + " 1030x520");
  });
}

// Linears reading the same x (q/k/v; gate/up) in one shared product give
// what each gives on its own, bit for bit, on every target and decode kernel:
// rows that are and are not multiples of the kernels' blocks (so one product
// mixes int8 or LUT blocks with masked rows, and on AVX2 one layer of int8
// blocks sits beside one of exact LUT blocks: both kinds of tables at once),
// strided x, T on the GEMV and (T = 64) the GEMM path, a layer big enough to
// be split between threads, and layers whose groups differ (no sharing).
TEST(PackedLinear, SharedInputEqualsSeparateProducts) {
  const int64_t C = 300, ldx = 310;
  const Quantized qa = quantize(48, C, 128, random_bits(C, 128, 61), 61);
  const Quantized qb = quantize(12, C, 128, uniform_bits(C, 128, 2), 62);  // < 16 rows: never int8 blocks
  const Quantized qc = quantize(33, C, 128, uniform_bits(C, 128, 4), 63);
  const Quantized qd = quantize(1030, C, 128, random_bits(C, 128, 64), 64);
  const Quantized qe = quantize(20, C, 64, uniform_bits(C, 64, 3), 65);  // other groups
  const PackedLinear A = encode(qa), B = encode(qb), Cc = encode(qc), D = encode(qd), E = encode(qe);
  const std::vector<std::vector<const PackedLinear*>> sets = {{&A, &B, &Cc}, {&D, &A}, {&A}, {&A, &E, &B}};
  for_each_target([&](const std::string& target) {
    for (bool int8 : {false, true}) {
      const test::GemvKernelScope scope(int8);
      for (int64_t T : {1, 3, 9, 64}) {
        const Inputs in = random_inputs(T, C, ldx, uint32_t(70 + T));
        for (const auto& set : sets) {
          std::vector<std::vector<float>> want(set.size()), got(set.size());
          std::vector<float*> ys;
          for (size_t i = 0; i < set.size(); ++i) {
            want[i].resize(size_t(T * set[i]->rows()));
            got[i].assign(want[i].size(), -1.f);
            set[i]->matmul(in.x.data(), want[i].data(), T, ldx);
            ys.push_back(got[i].data());
          }
          PackedLinear::matmul_shared_input(set, in.x.data(), ys, T, ldx);
          for (size_t i = 0; i < set.size(); ++i)
            expect_bit_identical(want[i], got[i], target + (int8 ? " int8" : " exact") + " T " + std::to_string(T) +
                                                      " set of " + std::to_string(set.size()) + " product " +
                                                      std::to_string(i));
        }
      }
    }
  });
}

// The per-token int8 tables of every target's GEMV equal the scalar
// reference byte for byte (a one-unit difference would pass the GEMV tests'
// tolerances): groups of several widths, inputs of mixed magnitudes, an
// all-zero group (scale 0) and one huge value.
TEST(PackedLinear, Int8TablesMatchReference) {
  for_each_target([](const std::string& target) {
    for (int64_t gs : {16, 40, 128}) {
      const int64_t cols = 520;
      const Quantized q = quantize(16, cols, gs, random_bits(cols, gs, 7), 7);
      const PackedLinear L = encode(q);
      const auto pcol = L.padded_columns();
      const auto gcol = L.group_columns();
      const int64_t G = L.n_groups(), np = pcol[size_t(G)];
      std::mt19937 rng{uint32_t(gs)};
      std::normal_distribution<float> nd(0.f, 1.f);
      std::vector<float> xp(size_t(np), 0.f);
      for (int64_t g = 0; g < G; ++g)
        for (int64_t c = 0; c < gcol[size_t(g + 1)] - gcol[size_t(g)]; ++c)
          xp[size_t(pcol[size_t(g)] + c)] = g == 1 ? 0.f : nd(rng) * std::pow(10.f, float(int(rng() % 7)) - 3.f);
      xp[size_t(pcol[size_t(G - 1)])] = 3e30f;
      std::vector<int8_t> ref(size_t(4 * np)), got(size_t(4 * np), 99);
      std::vector<float> st_ref(static_cast<size_t>(G)), st_got(static_cast<size_t>(G), -1.f);
      pack_detail::build_int8_tables(L, xp.data(), ref.data(), st_ref.data());
      pack_detail::build_int8_tables_dispatched(L, xp.data(), got.data(), st_got.data());
      for (size_t i = 0; i < ref.size(); ++i)
        ASSERT_EQ(int(ref[i]), int(got[i])) << target << " g" << gs << " entry " << i;
      for (int64_t g = 0; g < G; ++g) ASSERT_EQ(st_ref[size_t(g)], st_got[size_t(g)]) << target << " g" << gs << " group " << g;
      EXPECT_EQ(st_ref[1], 0.f) << "the all-zero group";
    }
  });
}

// The tiles as the dispatched target builds them (AVX2: by transposes) equal
// the scalar reference byte for byte: every width 1..8 (pairs and the lone
// plane), whole 16-byte chunks and short ones (groups of 16..104 columns),
// a group past 128 columns (two chunks), rows past the last 16-row block.
TEST(PackedLinear, Int8TilesMatchReference) {
  for_each_target([](const std::string& target) {
    for (int64_t gs : {16, 40, 64, 104, 128, 200}) {
      const int64_t rows = 37, cols = 600;
      const int64_t G = (cols + gs - 1) / gs;
      std::vector<int> bits(static_cast<size_t>(G));
      for (int64_t g = 0; g < G; ++g) bits[size_t(g)] = int(1 + (g * 3 + gs) % 8);
      const PackedLinear L = encode(quantize(rows, cols, gs, bits, uint32_t(gs)));
      const size_t n = size_t(L.rows() / 16 * 16 * L.row_bytes());
      std::vector<uint8_t> ref(n, 0xa5), got(n, 0x5a);
      pack_detail::build_int8_tiles(L, ref.data());
      pack_detail::build_int8_tiles_dispatched(L, got.data());
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(int(ref[i]), int(got[i])) << target << " g" << gs << " byte " << i;
    }
  });
}

// prepare_for_decode() builds, once, exactly the tiles the x86 int8 kernel
// would build at its first product, and nothing on other targets or with the
// exact kernel.
TEST(PackedLinear, PrepareForDecodeBuildsTheKernelsTiles) {
  for_each_target([](const std::string& target) {
    for (bool int8 : {true, false}) {
      test::GemvKernelScope scope(int8);
      const PackedLinear L = encode(quantize(40, 600, 128, random_bits(600, 128, 3), 3));
      const bool reads = (target == "AVX2" || target == "AVX3") && int8;
      EXPECT_EQ(pack_detail::int8_gemv_applies(L), reads) << target;
      const int64_t bytes = L.prepare_for_decode();
      if (!reads) {
        EXPECT_EQ(bytes, 0) << target;
        continue;
      }
      ASSERT_EQ(bytes, L.int8_tile_bytes());
      // Rows 0..31 (40 rounded down to 16): their codes, then two blocks' scales.
      ASSERT_EQ(bytes, 32 * L.row_bytes() + 2 * pack_detail::int8_meta_bytes(L));
      const uint8_t* built = L.int8_tiles().data();
      EXPECT_EQ(L.prepare_for_decode(), bytes);
      EXPECT_EQ(L.int8_tiles().data(), built) << "built twice";
      std::vector<uint8_t> fresh(static_cast<size_t>(bytes));
      pack_detail::build_int8_tiles(L, fresh.data());
      pack_detail::build_int8_meta(L, fresh.data() + 32 * L.row_bytes());
      EXPECT_EQ(0, std::memcmp(fresh.data(), built, fresh.size()));
    }
  });
}

// The int8 prefill GEMM's pieces on every target equal the scalar
// references byte for byte: the activations (mixed magnitudes, an all-zero
// group, a NaN and an infinite group, partial and per-row groups) and the
// code blocks with their coefficients (every width 1-4, a block past the
// last row).
TEST(PackedLinear, Int8GemmPiecesMatchReference) {
  for_each_target([](const std::string& target) {
    for (int64_t gs : {16, 40, 128, 0}) {
      const int64_t rows = 21, cols = 300;
      const int64_t G = n_groups(cols, int(gs));
      std::vector<int> bits(static_cast<size_t>(G));
      for (int64_t g = 0; g < G; ++g) bits[size_t(g)] = int(1 + (g + gs) % 4);
      const PackedLinear L = encode(quantize(rows, cols, int(gs), bits, uint32_t(gs + 1)));
      const auto gcol = L.group_columns();
      const int64_t kp = L.padded_columns()[size_t(G)];
      std::mt19937 rng{uint32_t(gs)};
      std::normal_distribution<float> nd(0.f, 1.f);
      for (int variant = 0; variant < 3; ++variant) {
        std::vector<float> x(static_cast<size_t>(cols));
        for (auto& v : x) v = nd(rng) * std::pow(10.f, float(int(rng() % 7)) - 3.f);
        if (G > 2) std::fill(x.begin() + gcol[1], x.begin() + gcol[2], 0.f);  // group 1 all zero
        if (variant == 1) x[size_t(gcol[size_t(G - 1)])] = std::numeric_limits<float>::quiet_NaN();
        if (variant == 2) x[size_t(cols - 1)] = -std::numeric_limits<float>::infinity();
        std::vector<int8_t> xq_ref(static_cast<size_t>(kp)), xq(static_cast<size_t>(kp), 99);
        std::vector<float> sx_ref(static_cast<size_t>(G)), ssx_ref(sx_ref.size()), sx(sx_ref.size(), -1.f), ssx(sx_ref.size(), -1.f);
        pack_detail::quantize_gemm_acts(L, x.data(), xq_ref.data(), sx_ref.data(), ssx_ref.data());
        pack_detail::quantize_gemm_acts_dispatched(L, x.data(), xq.data(), sx.data(), ssx.data());
        const std::string what = target + " g" + std::to_string(gs) + " variant " + std::to_string(variant);
        for (int64_t i = 0; i < kp; ++i) ASSERT_EQ(int(xq_ref[size_t(i)]), int(xq[size_t(i)])) << what << " xq " << i;
        for (int64_t g = 0; g < G; ++g) {
          ASSERT_EQ(std::isnan(sx_ref[size_t(g)]), std::isnan(sx[size_t(g)])) << what << " group " << g;
          if (!std::isnan(sx_ref[size_t(g)])) {
            ASSERT_EQ(sx_ref[size_t(g)], sx[size_t(g)]) << what << " sx " << g;
          }
          if (!std::isnan(ssx_ref[size_t(g)])) {
            ASSERT_EQ(ssx_ref[size_t(g)], ssx[size_t(g)]) << what << " ssx " << g;
          }
        }
        if (G > 2) {
          EXPECT_EQ(sx_ref[1], 0.f) << what << " the all-zero group";
        }
        if (variant > 0) {
          EXPECT_FALSE(std::isfinite(sx_ref[size_t(G - 1)])) << what;
        }
      }
      for (int64_t r0 : {int64_t(0), int64_t(16)}) {  // rows 16..23 of 21: three past the end
        std::vector<uint8_t> ref(size_t(8 * kp), 0xa5), got(size_t(8 * kp), 0x5a);
        std::vector<float> a_ref(size_t(8 * G)), b_ref(a_ref.size()), a(a_ref.size(), -1.f), b(a_ref.size(), -1.f);
        pack_detail::build_gemm_block(L, r0, ref.data(), a_ref.data(), b_ref.data());
        pack_detail::build_gemm_block_dispatched(L, r0, got.data(), a.data(), b.data());
        for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(int(ref[i]), int(got[i])) << target << " g" << gs << " byte " << i;
        for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a_ref[i], a[i]) << target << " g" << gs << " a " << i;
        for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b_ref[i], b[i]) << target << " g" << gs << " b " << i;
      }
    }
  });
}

// The int8 GEMM (AVX2 and AVX3, tuning().gemm_int8) equals its scalar reference bit
// for bit, with strided x and y; the reference is within the activations'
// rounding bound of the exact product: Σ_k |W[r,k]| sx(t, g(k)) / 2, plus
// fp32 rounding. Layers with a group over 4 bits stay exact.
TEST(PackedLinear, Int8GemmMatchesReference) {
  for_each_target([](const std::string& target) {
    struct Case { int64_t rows, cols; int gs; int max_bits; int64_t T; };
    const Case cases[] = {{21, 300, 16, 4, 13}, {40, 520, 128, 4, 12}, {9, 250, 40, 2, 5}, {33, 100, 0, 3, 7},
                          {1030, 520, 128, 4, 9}, {64, 200, 64, 1, 4}, {17, 300, 128, 8, 6}};
    uint32_t seed = 700;
    for (const Case& c : cases) {
      const int64_t G = n_groups(c.cols, c.gs);
      std::vector<int> bits(static_cast<size_t>(G));
      std::mt19937 brng(seed);
      for (auto& b : bits) b = 1 + int(brng() % uint32_t(c.max_bits));
      const Quantized q = quantize(c.rows, c.cols, c.gs, bits, seed++);
      const PackedLinear L = encode(q);
      const int64_t T = c.T, ldx = c.cols + 3, ldy = c.rows + 2;
      const auto [x, xd] = random_inputs(T, c.cols, ldx, seed);
      std::vector<float> exact(size_t(T * c.rows)), ref(exact.size()), y(size_t(T * ldy), -5.f);
      L.matmul_reference(xd.data(), exact.data(), T);
      pack_detail::matmul_reference_gemm_int8(L, xd.data(), ref.data(), T);
      const bool applies = (target == "AVX2" || target == "AVX3") && c.max_bits <= 4;
      {
        test::GemvKernelScope exact_gemv(false);
        pack_detail::tuning().gemm_int8 = true;
        EXPECT_EQ(pack_detail::gemm_int8_applies(L), applies) << target;
        // The GEMV/GEMM crossover is the one measured for the GEMM that runs.
        if (pack_detail::tuning().gemm_min_tokens <= 0) {
          EXPECT_EQ(pack_detail::gemm_min_tokens(L), pack_detail::gemm_min_tokens_for_target(applies, false)) << target;
        }
        pack_detail::gemm_matmul(L, x.data(), y.data(), T, ldx, ldy);
      }
      const std::string what = target + " " + std::to_string(c.rows) + "x" + std::to_string(c.cols) + " gs" + std::to_string(c.gs);
      const auto gcol = L.group_columns();
      std::vector<int8_t> xq(static_cast<size_t>(L.padded_columns()[size_t(G)]));
      std::vector<float> sx(static_cast<size_t>(G)), ssx(sx.size());
      for (int64_t t = 0; t < T; ++t) {
        pack_detail::quantize_gemm_acts(L, xd.data() + t * c.cols, xq.data(), sx.data(), ssx.data());
        for (int64_t r = 0; r < ldy; ++r) {
          const float got = y[size_t(t * ldy + r)];
          if (r >= c.rows) {
            ASSERT_EQ(got, -5.f) << what << ": wrote past the row stride";
            continue;
          }
          double mag = 0, bound = 0;
          for (int64_t g = 0; g < G; ++g)
            for (int64_t k = gcol[size_t(g)]; k < gcol[size_t(g + 1)]; ++k) {
              const double w = std::fabs(q.fake[size_t(r * c.cols + k)]);
              mag += w * std::fabs(xd[size_t(t * c.cols + k)]);
              bound += w * sx[size_t(g)] / 2;
            }
          const float e = exact[size_t(t * c.rows + r)], rf = ref[size_t(t * c.rows + r)];
          if (applies)
            ASSERT_EQ(std::memcmp(&got, &rf, 4), 0) << what << " kernel vs reference t=" << t << " r=" << r << ": " << got << " vs " << rf;
          else
            ASSERT_NEAR(got, e, 2e-6 * mag + 1e-6) << what << " exact path t=" << t << " r=" << r;
          ASSERT_NEAR(rf, e, bound * 1.001 + 4e-6 * mag + 1e-5) << what << " reference vs exact t=" << t << " r=" << r;
        }
      }
    }
  });
}

TEST(PackedLinear, GemmKernelFromEnvironment) {
  const char* old = std::getenv("SLIM_GEMM");
  const std::string saved = old ? old : "";
  setenv("SLIM_GEMM", "int8", 1);
  EXPECT_EQ(pack_detail::gemm_int8_env(), 1);
  setenv("SLIM_GEMM", "exact", 1);
  EXPECT_EQ(pack_detail::gemm_int8_env(), 0);
  unsetenv("SLIM_GEMM");
  EXPECT_EQ(pack_detail::gemm_int8_env(), -1);
  setenv("SLIM_GEMM", "fast", 1);
  EXPECT_THROW(pack_detail::gemm_int8_env(), Error);
  if (old) setenv("SLIM_GEMM", saved.c_str(), 1);
  else unsetenv("SLIM_GEMM");
}

// slim ppl and slim eval keep the exact product from T = 10 on, on every
// x86 target: where the decode GEMV is the approximate int8 one, the exact
// GEMM takes over at 10 tokens (AVX3 kept the exact LUT GEMV up to 47 when
// that was its GEMV, and still does with SLIM_GEMV=exact).
TEST(PackedLinear, ApproximateGemvStopsAtTenTokensBeforeTheExactGemm) {
  const PackedLinear L = encode(quantize(64, 512, 128, uniform_bits(512, 128, 3), 5));
  for_each_target([&](const std::string& target) {
    if (target != "AVX2" && target != "AVX3") return;
    for (bool int8 : {true, false}) {
      test::GemvKernelScope scope(int8);  // exact GEMM
      ASSERT_EQ(pack_detail::int8_gemv_applies(L), int8) << target;
      const int64_t want = int8 || target == "AVX2" ? 10 : 48;
      EXPECT_EQ(pack_detail::gemm_min_tokens(L), want) << target << (int8 ? " int8 GEMV" : " exact GEMV");
    }
  });
}

TEST(PackedLinear, GemvKernelFromEnvironment) {
  const char* old = std::getenv("SLIM_GEMV");
  const std::string saved = old ? old : "";
  setenv("SLIM_GEMV", "int8", 1);
  EXPECT_TRUE(pack_detail::int8_from_env());
  EXPECT_EQ(pack_detail::int8_min_work_from_env(), 0);  // forced: every layer
  setenv("SLIM_GEMV", "exact", 1);
  EXPECT_FALSE(pack_detail::int8_from_env());
  unsetenv("SLIM_GEMV");
  EXPECT_TRUE(pack_detail::int8_from_env());  // the default: int8 tables on layers from 512x512 up
  EXPECT_GT(pack_detail::int8_min_work_from_env(), 64 * 64);
  setenv("SLIM_GEMV", "fast", 1);
  EXPECT_THROW(pack_detail::int8_from_env(), Error);
  if (old) setenv("SLIM_GEMV", saved.c_str(), 1);
  else unsetenv("SLIM_GEMV");
}

TEST(PackedLinear, MovedLinearKeepsItsData) {
  const Quantized q = quantize(6, 50, 16, {2, 1, 5, 8}, 9);
  PackedLinear a = encode(q);
  PackedLinear b = std::move(a);
  std::vector<float> out(size_t(q.rows * q.cols));
  b.dequantize_rows(0, q.rows, out.data(), q.cols);
  expect_bit_identical(q.fake, out, "moved");
}

}  // namespace
