// Pins the x86 decode GEMV kernel for one scope. The default (int8 tables on
// AVX2 and AVX3, or SLIM_GEMV) is approximate, so a test that compares packed decode
// output with the fake-quantized model at a tight bound takes the exact
// kernel here, whatever the default or the environment says; the prefill
// GEMM is the exact one in the scope too (SLIM_GEMM=int8 would make it
// approximate).
#pragma once
#include "pack/packed_kernels.h"

namespace slim::test {

class GemvKernelScope {
 public:
  // int8: every layer, whatever its size, by the int8-table kernel (AVX2, AVX3).
  explicit GemvKernelScope(bool int8) : saved_(pack_detail::tuning()) {
    pack_detail::tuning().int8 = int8;
    pack_detail::tuning().int8_min_work = 0;
    pack_detail::tuning().gemm_int8 = false;
  }
  ~GemvKernelScope() { pack_detail::tuning() = saved_; }
  GemvKernelScope(const GemvKernelScope&) = delete;
  GemvKernelScope& operator=(const GemvKernelScope&) = delete;

 private:
  pack_detail::Tuning saved_;
};

}  // namespace slim::test
