// Instances of sqc_kernel_body.inc. x86-64: AVX2 (the build baseline) and
// AVX-512 (compiled for it with a target pragma, run only when the CPU has
// it); the traits map the body's operations 1:1 onto intrinsics. Elsewhere
// (aarch64): one portable instance on Highway's static target at 128 bits
// (NEON with the armv8-a baseline), the same operations 1:1 on 4 lanes.
#include "quant/sqc_kernel.h"

#include "util/arch.h"
#include "util/error.h"

#if !SLIM_X86
#include <hwy/highway.h>
#endif

namespace slim::sqc_kernel {

#if SLIM_X86

namespace avx2 {
struct V {
  static constexpr int64_t kWidth = 8;
  using F = __m256;
  using I = __m256i;
  static F set1(float v) { return _mm256_set1_ps(v); }
  static I set1i(int32_t v) { return _mm256_set1_epi32(v); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_store_ps(p, v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fmsub(F a, F b, F c) { return _mm256_fmsub_ps(a, b, c); }
  static F cvt(I a) { return _mm256_cvtepi32_ps(a); }
  static I cvtt(F a) { return _mm256_cvttps_epi32(a); }
  static I cast_i(F a) { return _mm256_castps_si256(a); }
  static F cast_f(I a) { return _mm256_castsi256_ps(a); }
  static I add_i(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I and_i(I a, I b) { return _mm256_and_si256(a, b); }
  static I or_i(I a, I b) { return _mm256_or_si256(a, b); }
  static I maxi(I a, I b) { return _mm256_max_epi32(a, b); }
  static I mini(I a, I b) { return _mm256_min_epi32(a, b); }
  static I slli23(I a) { return _mm256_slli_epi32(a, 23); }
  static I srli23(I a) { return _mm256_srli_epi32(a, 23); }
  static I gt01(I a, I b) { return _mm256_srli_epi32(_mm256_cmpgt_epi32(a, b), 31); }  // 1 where a > b
};
#define SQC_TARGET
#include "quant/sqc_kernel_body.inc"
#undef SQC_TARGET
}  // namespace avx2

#if defined(__clang__)  // clang ignores GCC target pragmas (the fuzz build uses clang)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl")
#endif
// GCC 12's AVX-512 headers build set1/casts from _mm512_undefined_*(), which
// -Wmaybe-uninitialized flags falsely once inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace avx512 {
struct V {
  static constexpr int64_t kWidth = 16;
  using F = __m512;
  using I = __m512i;
  static F set1(float v) { return _mm512_set1_ps(v); }
  static I set1i(int32_t v) { return _mm512_set1_epi32(v); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_store_ps(p, v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fmsub(F a, F b, F c) { return _mm512_fmsub_ps(a, b, c); }
  static F cvt(I a) { return _mm512_cvtepi32_ps(a); }
  static I cvtt(F a) { return _mm512_cvttps_epi32(a); }
  static I cast_i(F a) { return _mm512_castps_si512(a); }
  static F cast_f(I a) { return _mm512_castsi512_ps(a); }
  static I add_i(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I and_i(I a, I b) { return _mm512_and_si512(a, b); }
  static I or_i(I a, I b) { return _mm512_or_si512(a, b); }
  static I maxi(I a, I b) { return _mm512_max_epi32(a, b); }
  static I mini(I a, I b) { return _mm512_min_epi32(a, b); }
  static I slli23(I a) { return _mm512_slli_epi32(a, 23); }
  static I srli23(I a) { return _mm512_srli_epi32(a, 23); }
  static I gt01(I a, I b) { return _mm512_maskz_set1_epi32(_mm512_cmpgt_epi32_mask(a, b), 1); }
};
#define SQC_TARGET
#include "quant/sqc_kernel_body.inc"
#undef SQC_TARGET
}  // namespace avx512
#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  // !SLIM_X86

}  // namespace slim::sqc_kernel
// Highway's static target's attributes (NEON's "+crypto") on everything that
// calls its ops, or they cannot inline.
HWY_BEFORE_NAMESPACE();
namespace slim::sqc_kernel {
namespace portable {
namespace hn = hwy::HWY_NAMESPACE;
struct V {
  using DF = hn::FixedTag<float, 4>;
  using DI = hn::RebindToSigned<DF>;
  using DU = hn::RebindToUnsigned<DF>;
  static constexpr int64_t kWidth = 4;
  using F = hn::Vec<DF>;
  using I = hn::Vec<DI>;
  static F set1(float v) { return hn::Set(DF(), v); }
  static I set1i(int32_t v) { return hn::Set(DI(), v); }
  static F load(const float* p) { return hn::LoadU(DF(), p); }
  static void store(float* p, F v) { hn::Store(v, DF(), p); }
  static F add(F a, F b) { return hn::Add(a, b); }
  static F sub(F a, F b) { return hn::Sub(a, b); }
  static F mul(F a, F b) { return hn::Mul(a, b); }
  static F div(F a, F b) { return hn::Div(a, b); }
  static F fma(F a, F b, F c) { return hn::MulAdd(a, b, c); }
  static F fmsub(F a, F b, F c) { return hn::MulSub(a, b, c); }  // a b - c, fused
  static F cvt(I a) { return hn::ConvertTo(DF(), a); }
  static I cvtt(F a) { return hn::ConvertTo(DI(), a); }  // truncates
  static I cast_i(F a) { return hn::BitCast(DI(), a); }
  static F cast_f(I a) { return hn::BitCast(DF(), a); }
  static I add_i(I a, I b) { return hn::Add(a, b); }
  static I sub_i(I a, I b) { return hn::Sub(a, b); }
  static I and_i(I a, I b) { return hn::And(a, b); }
  static I or_i(I a, I b) { return hn::Or(a, b); }
  static I maxi(I a, I b) { return hn::Max(a, b); }
  static I mini(I a, I b) { return hn::Min(a, b); }
  static I slli23(I a) { return hn::ShiftLeft<23>(a); }
  // Logical shift as _mm256_srli_epi32 (Highway's ShiftRight on int32 is arithmetic).
  static I srli23(I a) { return hn::BitCast(DI(), hn::ShiftRight<23>(hn::BitCast(DU(), a))); }
  static I gt01(I a, I b) { return hn::And(hn::VecFromMask(DI(), hn::Gt(a, b)), hn::Set(DI(), 1)); }
};
#define SQC_TARGET
#include "quant/sqc_kernel_body.inc"
#undef SQC_TARGET
}  // namespace portable
}  // namespace slim::sqc_kernel
HWY_AFTER_NAMESPACE();
namespace slim::sqc_kernel {

#endif  // SLIM_X86

namespace {
#if SLIM_X86
Isa detect() { return avx512_supported() ? Isa::kAvx512 : Isa::kAvx2; }
#else
Isa detect() { return Isa::kPortable; }
#endif
Isa g_isa = detect();
}  // namespace

bool avx512_supported() {
#if SLIM_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

std::vector<Isa> available_isas() {
#if SLIM_X86
  if (avx512_supported()) return {Isa::kAvx2, Isa::kAvx512};
  return {Isa::kAvx2};
#else
  return {Isa::kPortable};
#endif
}

Isa active_isa() { return g_isa; }

void force_isa(Isa isa) {
  SLIM_CHECK(isa != Isa::kAvx512 || avx512_supported(), "sqc: this CPU has no AVX-512 (avx512f/dq/vl)");
  SLIM_CHECK(isa == Isa::kPortable ? !SLIM_X86 : SLIM_X86, "sqc: instruction set not built for this architecture");
  g_isa = isa;
}

Stats& thread_stats() {
  thread_local Stats st;
  return st;
}

void best_candidate(const Row& row, const float* scale, const float* zero, const int* index, int count, float maxq,
                    bool prune, Best* best) {
  SLIM_CHECK(row.n % kLanes == 0, "sqc: row length {} is not padded to {}", row.n, kLanes);
  Stats& st = thread_stats();
#if SLIM_X86
  if (g_isa == Isa::kAvx512) avx512::best_candidate(row, scale, zero, index, count, maxq, prune, best, st);
  else avx2::best_candidate(row, scale, zero, index, count, maxq, prune, best, st);
#else
  portable::best_candidate(row, scale, zero, index, count, maxq, prune, best, st);
#endif
}

float row_error(const Row& row, float scale, float zero, float maxq) {
  SLIM_CHECK(row.n % kLanes == 0, "sqc: row length {} is not padded to {}", row.n, kLanes);
#if SLIM_X86
  return g_isa == Isa::kAvx512 ? avx512::row_error(row, scale, zero, maxq) : avx2::row_error(row, scale, zero, maxq);
#else
  return portable::row_error(row, scale, zero, maxq);
#endif
}

}  // namespace slim::sqc_kernel
