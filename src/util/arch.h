// The one place in the sources that asks which CPU architecture this is
// (CMakeLists.txt picks the -march baseline: x86-64-v3 on x86-64, the
// arch default armv8-a on aarch64). Everything else SIMD goes through
// Highway's per-target code and runtime dispatch, which works on both.
//
// What differs per architecture is small: fp16 <-> fp32 of one value (F16C
// on x86-64-v3; the A64 fcvt instruction through __fp16 on aarch64, both
// exact widening and round-to-nearest-even narrowing, so the same bits) and
// which hand-written x86 kernels exist (SLIM_X86: quant/sqc_kernel.cc's AVX2
// and AVX-512 instances; pack/'s LUT GEMVs are selected by Highway target).
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#define SLIM_X86 1
#include <immintrin.h>
#elif defined(__aarch64__)
#define SLIM_X86 0
#else
#error "slim-llm builds for x86-64 or aarch64 (src/util/arch.h)"
#endif

namespace slim::arch {

// fp16 bits -> fp32 (exact).
inline float f16_to_f32(uint16_t h) {
#if SLIM_X86
  return _cvtsh_ss(h);
#else
  __fp16 v;
  std::memcpy(&v, &h, 2);
  return float(v);
#endif
}

// fp32 -> fp16 bits, round to nearest even (IEEE; overflow to inf).
inline uint16_t f32_to_f16(float f) {
#if SLIM_X86
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
#else
  const __fp16 v = static_cast<__fp16>(f);
  uint16_t h;
  std::memcpy(&h, &v, 2);
  return h;
#endif
}

// Read prefetch into all cache levels (prefetcht0 on x86, prfm pldl1keep on A64).
inline void prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }

}  // namespace slim::arch
