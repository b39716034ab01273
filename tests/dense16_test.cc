// The fp16/bf16 kernels (model/dense16.h) against their scalar references.
#include <gtest/gtest.h>
#include <cblas.h>
#include <hwy/targets.h>

#include <cmath>
#include <random>

#include "model/dense16.h"
#include "model/ops.h"
#include "pack/packed_kernels.h"
#include "util/half.h"

namespace slim {
namespace {

std::vector<uint16_t> random16(std::mt19937& rng, int64_t n, ElemType t, float scale = 1.f) {
  std::normal_distribution<float> nd(0.f, scale);
  std::vector<uint16_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = t == ElemType::BF16 ? f32_to_bf16(nd(rng)) : f32_to_f16(nd(rng));
  return v;
}

std::vector<float> random32(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = nd(rng);
  return v;
}

// Runs f once per compiled Highway target this CPU supports (AVX2 and AVX3 on
// x86-64; NEON and the SVE targets on aarch64), then restores dispatch.
template <typename F>
void for_each_target(F&& f) {
  const auto targets = dense16_targets();
  ASSERT_FALSE(targets.empty());
  for (int64_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    ASSERT_STREQ(dense16_target(), hwy::TargetName(t));
    SCOPED_TRACE(hwy::TargetName(t));
    f();
  }
  hwy::SetSupportedTargetsForTest(0);
}

// |a - b| within fp32 reassociation error of a length-`cols` dot product.
void expect_close_dots(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& mag,
                       int64_t cols, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 4e-7 * double(cols) * mag[i] + 1e-30) << what << " at " << i;
}

TEST(Dense16, WideningIsExactForEveryBitPattern) {
  std::vector<uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[size_t(i)] = uint16_t(i);
  for_each_target([&] {
  for (ElemType t : {ElemType::BF16, ElemType::F16}) {
    std::vector<float> got(all.size()), want(all.size());
    dense16_to_f32(all.data(), t, int64_t(all.size()), got.data());
    dense16_to_f32_reference(all.data(), t, int64_t(all.size()), want.data());
    for (size_t i = 0; i < all.size(); ++i) {
      if (std::isnan(want[i])) {
        ASSERT_TRUE(std::isnan(got[i])) << elem_type_name(t) << " pattern " << i;
        continue;
      }
      ASSERT_EQ(std::memcmp(&got[i], &want[i], 4), 0) << elem_type_name(t) << " pattern " << i;
    }
  }
  });
}

// The two Highway translation units compile the same targets but for SVE,
// which pack/packed_kernels.cc disables (its accumulator arrays cannot hold
// sizeless SVE vectors): the per-target tests cover every kernel copy that
// dispatch can pick on this CPU. Prints both lists (scripts/arm_cross.sh reads them).
TEST(Dense16, SameTargetsAsPackedKernelsButSve) {
  constexpr int64_t kSve = HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128;
  const auto dense = dense16_targets(), packed = pack_detail::compiled_targets();
  std::vector<int64_t> want;
  for (int64_t t : dense)
    if ((t & kSve) == 0) want.push_back(t);
  EXPECT_EQ(packed, want);
  auto names = [](const std::vector<int64_t>& v) {
    std::string s;
    for (int64_t t : v) s += std::string(" ") + hwy::TargetName(t);
    return s;
  };
  std::printf("targets: dense16%s; packed%s\n", names(dense).c_str(), names(packed).c_str());
}

TEST(Dense16, GemvMatchesScalarReference) {
  std::mt19937 rng(7);
  const int64_t shapes[][2] = {{1, 1}, {3, 7}, {5, 16}, {13, 37}, {64, 100}, {257, 512}, {96, 4099}};
  for_each_target([&] {
  for (ElemType t : {ElemType::BF16, ElemType::F16})
    for (auto [R, C] : shapes) {
      auto w = random16(rng, R * C, t, 0.05f);
      auto x = random32(rng, C);
      std::vector<float> got(static_cast<size_t>(R)), want(got), mag(got);
      dense16_gemv_rows(w.data(), t, C, x.data(), got.data(), 0, R);
      dense16_gemv_reference(w.data(), t, R, C, x.data(), want.data());
      std::vector<float> wf(static_cast<size_t>(R * C));
      dense16_to_f32_reference(w.data(), t, R * C, wf.data());
      for (int64_t r = 0; r < R; ++r)
        for (int64_t c = 0; c < C; ++c) mag[size_t(r)] += std::abs(wf[size_t(r * C + c)] * x[size_t(c)]);
      expect_close_dots(got, want, mag, C, elem_type_name(t));
    }
  });
}

// The dispatching product, both paths (GEMV below kDense16GemmMinTokens,
// panels + sgemm above; with several panels at 600 rows), with strides,
// against sgemm on the widened weights.
TEST(Dense16, MatmulMatchesSgemmOnWidenedWeights) {
  std::mt19937 rng(9);
  for (ElemType t : {ElemType::BF16, ElemType::F16})
    for (int64_t T : {int64_t(1), int64_t(3), kDense16GemmMinTokens, int64_t(33)})
      for (auto [R, C] : {std::pair<int64_t, int64_t>{600, 1000}, {9, 24}}) {
        auto w16 = random16(rng, R * C, t, 0.05f);
        const Tensor W = Tensor::from16(w16, t, R, C);
        const int64_t ldx = C + 3, ldy = R + 5;
        auto x = random32(rng, T * ldx);
        std::vector<float> y(static_cast<size_t>(T * ldy), -7.f), want(y), mag(y.size(), 0.f);
        dense16_matmul(W, x.data(), y.data(), T, ldx, ldy);
        const Tensor Wf = W.to_f32();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(R), int(C), 1.f, x.data(), int(ldx),
                    Wf.data(), int(C), 0.f, want.data(), int(ldy));
        for (int64_t i = 0; i < T; ++i)
          for (int64_t r = 0; r < R; ++r) {
            double m = 0;
            for (int64_t c = 0; c < C; ++c) m += std::abs(Wf.data()[r * C + c] * x[size_t(i * ldx + c)]);
            mag[size_t(i * ldy + r)] = float(m);
          }
        expect_close_dots(y, want, mag, C, elem_type_name(t));
        for (int64_t i = 0; i < T; ++i)  // the padding between rows of y is untouched
          for (int64_t r = R; r < ldy; ++r) ASSERT_EQ(y[size_t(i * ldy + r)], -7.f);
      }
}

// linear() on a 16-bit Linear goes through the kernels (and adds the bias).
TEST(Dense16, LinearDispatchesOn16BitWeights) {
  std::mt19937 rng(11);
  const int64_t R = 40, C = 72;
  Linear L;
  L.w = Tensor::from16(random16(rng, R * C, ElemType::BF16, 0.1f), ElemType::BF16, R, C);
  L.bias = Tensor::from(random32(rng, R), 1, R);
  auto x = random32(rng, 2 * C);
  std::vector<float> y(static_cast<size_t>(2 * R)), want(y);
  linear(x.data(), L, y.data(), 2);
  Linear F{L.w.to_f32(), L.bias, nullptr};
  linear(x.data(), F, want.data(), 2);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want[i], 1e-4f) << i;
}

TEST(Dense16, Fp32AccessTo16BitTensorIsRefused) {
  const Tensor W = Tensor::from16(std::vector<uint16_t>(6, 0x3f80), ElemType::BF16, 2, 3);
  EXPECT_THROW((void)W.data(), std::exception);
  EXPECT_EQ(W.to_f32().data()[5], 1.f);
}

}  // namespace
}  // namespace slim
