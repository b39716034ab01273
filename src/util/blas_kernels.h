// Which kernels OpenBLAS runs. It picks them once, when the library loads,
// from the CPU, unless OPENBLAS_CORETYPE names a set. Pinned to "Haswell"
// (AVX2) on an AVX-512 CPU, sgemm runs at about half the speed of the
// AVX-512 set OpenBLAS would pick there (docs/RESULTS.md, "Real scale":
// the 7B-wide calibration forward runs at sgemm speed, so it halves too).
#pragma once
#include <string>

namespace slim {

// The kernel set OpenBLAS runs ("Haswell", "SkylakeX", "Cooperlake", ...).
const char* blas_core_name();

// A one-line note when OpenBLAS runs AVX2 kernels on a CPU with AVX-512
// (F, BW, DQ, VL), naming OPENBLAS_CORETYPE if it is set; empty otherwise.
std::string blas_core_note();

}  // namespace slim
