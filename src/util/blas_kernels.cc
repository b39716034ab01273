#include "util/blas_kernels.h"

#include <cblas.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "util/arch.h"

namespace slim {

const char* blas_core_name() { return openblas_get_corename(); }

std::string blas_core_note() {
#if SLIM_X86
  const char* core = openblas_get_corename();
  if (std::strcmp(core, "Haswell") != 0 && std::strcmp(core, "Zen") != 0) return {};
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
    return {};
  const char* pinned = std::getenv("OPENBLAS_CORETYPE");
  return fmt::format("OpenBLAS runs its AVX2 kernels ({}) on this AVX-512 CPU{}; its AVX-512 kernels "
                     "(OPENBLAS_CORETYPE=SkylakeX) may run sgemm up to ~2x faster",
                     core, pinned ? fmt::format(" because OPENBLAS_CORETYPE={} is set", pinned) : std::string());
#else
  return {};
#endif
}

}  // namespace slim
