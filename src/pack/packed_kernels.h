// Internal interface between PackedLinear's products (packed_matmul.cc) and
// the runtime-dispatched SIMD kernels (packed_kernels.cc, compiled once per
// Highway target: AVX2 and AVX3 = AVX-512 with the x86-64-v3 baseline).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "pack/packed_linear.h"

namespace slim::pack_detail {

// SLIM_GEMV (see Tuning::int8, Tuning::int8_min_work); throw slim::Error on
// an unknown value.
bool int8_from_env();
int64_t int8_min_work_from_env();
// SLIM_GEMM: 1 = "int8", 0 = "exact", -1 = unset (throws slim::Error on
// anything else). See Tuning::gemm_int8.
int gemm_int8_env();

// matmul()'s tuning knobs. The defaults are measured with bench_kernels
// (which also changes them to measure); nothing else should.
struct Tuning {
  // T from which matmul() takes the GEMM path (the int8 GEMM, or dequantized
  // panels + sgemm) instead of the GEMV (whose cost grows ~linearly with T);
  // <= 0: the crossover measured for the target and that path (gemm_min_tokens(L)).
  int64_t gemm_min_tokens = 0;
  // rows x cols x T below which the GEMV stays on the calling thread: the
  // 64x64 layers of a tiny model must not pay a fork/join. bench_kernels, 2
  // threads, 6 runs: split vs one thread at 256x256 1.4-3.2 vs 2.0 us (a
  // loss whenever a thread is late), 512x512 3.9-6.8 vs 6.6-7.1 us (never a
  // loss), 768x768 7.3-11.1 vs 12.8-13.8 us.
  int64_t parallel_min_work = int64_t(1) << 18;
  // Dequantized panel per thread on the GEMM path: about an L2 (1 MB on
  // Zen 5), so sgemm reads the panel from cache right after it is written.
  int64_t panel_bytes = int64_t(1) << 20;
  // GEMV rows by the table-lookup kernel (AVX2 and AVX-512); false: all rows
  // by the masked kernel (bench_kernels --no-lut measures the two side by side).
  bool lut = true;
  // x86 (AVX2, AVX3), with lut: GEMV rows by the int8-table kernel (approximate:
  // int8_gemv.h; end-to-end perplexity in docs/RESULTS.md) instead of the
  // exact fp32 LUT kernel, for layers of at least int8_min_work weights
  // (rows x cols). From the environment: SLIM_GEMV=int8 (every layer),
  // SLIM_GEMV=exact (none; anything else is an error), unset: int8 from
  // 512x512 weights up (packed_matmul.cc says why).
  bool int8 = int8_from_env();
  int64_t int8_min_work = int8_min_work_from_env();
  // x86 (AVX2, AVX3): prefill (the GEMM path) by the int8 GEMM (approximate:
  // int8_gemm.h) for layers whose groups are all 1-4 bits, instead of fp32
  // panels + sgemm. Off unless SLIM_GEMM=int8: perplexity and evaluation
  // keep the exact product (packed = fake-quantized, bit for bit); slim
  // generate turns it on (prefill speed) unless SLIM_GEMM=exact.
  bool gemm_int8 = gemm_int8_env() == 1;
};
inline Tuning& tuning() {
  static Tuning t;
  return t;
}

// Input of the bit-plane GEMV: x prepared once per call.
struct GemvInput {
  const float* xp = nullptr;  // (T, xstride) x with every group zero-padded to 16 columns (padded_columns())
  int64_t xstride = 0;
  const float* xsum = nullptr;  // (T, n_groups) Σ x over each group
  const float* tables = nullptr;  // (T, tstride) subset sums of each 4-column block of xp, 16 each (LUT kernels)
  int64_t tstride = 0;
  int64_t T = 0;
};

// Rows the masked GEMV kernel handles together (x loads shared, independent
// accumulators).
inline constexpr int64_t kGemvRowBlock = 4;

// A float buffer of at least n per (thread, slot), kept between calls so the
// products do not page-fault on fresh allocations. Slots: 0, 1, 3 = GEMV
// input preparation (calling thread), 2 = GEMM panel (each worker).
float* thread_scratch(int slot, int64_t n);
// Dequantized rows r0..r1-1 into out (r1 - r0, cols), row stride ldo; bit
// identical to dequantize_rows_reference().
void dequantize(const PackedLinear& L, int64_t r0, int64_t r1, float* out, int64_t ldo);
// matmul()'s two paths (argument checks done by the caller), callable on
// their own so bench_kernels can measure the GEMV/GEMM crossover. The GEMV
// (x prepared once, OpenMP over rows) is runtime-dispatched as a whole.
void gemv_matmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy);
// The GEMV of several products reading the same x (1..8 of them, sharing
// cols and group_columns()): ys[i] (T, rows_i, stride ldys[i]) = x Ls[i]ᵀ,
// x and its tables prepared once, one parallel region for all; each equal to
// its own gemv_matmul() bit for bit.
void gemv_matmul_shared(std::span<const PackedLinear* const> Ls, std::span<float* const> ys,
                        std::span<const int64_t> ldys, const float* x, int64_t T, int64_t ldx);
void gemm_matmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy);
// gemm_matmul's int8 path (only where gemm_int8_applies(L)).
void gemm_int8_matmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy);

// Whether gemm_matmul() on the dispatched target runs L by the int8 GEMM
// (AVX2 or AVX3, tuning().gemm_int8, groups of 1-4 bits).
bool gemm_int8_applies(const PackedLinear& L);
// The int8 GEMM's pieces as the dispatched target runs them (AVX2, AVX3:
// the kernel's; others: the scalar references), for the tests:
// quantize_gemm_acts and build_gemm_block (int8_gemm.h), byte-identical to them.
void quantize_gemm_acts_dispatched(const PackedLinear& L, const float* x, int8_t* xq, float* sx, float* ssx);
void build_gemm_block_dispatched(const PackedLinear& L, int64_t r0, uint8_t* out, float* a, float* b);

// Whether gemv_matmul() on the dispatched target runs (some of) L's rows on
// the int8-table kernel, i.e. reads L.int8_tiles().
bool int8_gemv_applies(const PackedLinear& L);
// build_int8_tables (int8_gemv.h) as the dispatched target's GEMV builds
// them: byte-identical to it (tests compare).
void build_int8_tables_dispatched(const PackedLinear& L, const float* xp, int8_t* tq, float* st);
// build_int8_tiles (int8_gemv.h) as the dispatched target builds them:
// byte-identical to it (tests compare).
void build_int8_tiles_dispatched(const PackedLinear& L, uint8_t* out);

// The GEMV/GEMM crossover T measured with bench_kernels for the dispatched
// target (the AVX-512 LUT GEMV is ~2x the AVX2 LUT one, so it stays ahead
// longer), against the exact GEMM path or (int8_gemm) the int8 GEMM, for an
// exact GEMV or (int8_gemv) the int8-table one.
int64_t gemm_min_tokens_for_target(bool int8_gemm, bool int8_gemv);
// matmul()'s choice for L: tuning().gemm_min_tokens if set, else the
// target's for the GEMV and GEMM paths L would take.
inline int64_t gemm_min_tokens(const PackedLinear& L) {
  return tuning().gemm_min_tokens > 0 ? tuning().gemm_min_tokens
                                      : gemm_min_tokens_for_target(gemm_int8_applies(L), int8_gemv_applies(L));
}

// hwy::TargetName of the target the two functions above dispatch to.
const char* target_name();
// The targets this CPU supports among those compiled here (for the tests:
// hwy::SetSupportedTargetsForTest(t) then runs the kernels for target t).
std::vector<int64_t> compiled_targets();

}  // namespace slim::pack_detail
