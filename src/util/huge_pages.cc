#include "util/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace slim {

void advise_huge_pages(void* p, size_t bytes) {
  constexpr uintptr_t huge = uintptr_t(2) << 20;
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + huge - 1) & ~(huge - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(huge - 1);
  if (e > a) ::madvise(reinterpret_cast<void*>(a), e - a, MADV_HUGEPAGE);  // a failure changes nothing
}

std::string malloc_huge_pages_tunables(const std::string& thp_mode, const char* glibc_tunables,
                                       const char* no_huge_pages) {
  if (no_huge_pages != nullptr && *no_huge_pages != '\0' && std::string(no_huge_pages) != "0") return "";
  if (thp_mode.find("[madvise]") == std::string::npos) return "";  // always, never, or unknown
  const std::string t = glibc_tunables ? glibc_tunables : "";
  // Present already: the user's own setting, or ours after the exec.
  if (t.find("glibc.malloc.hugetlb") != std::string::npos) return "";
  return t.empty() ? "glibc.malloc.hugetlb=1" : t + ":glibc.malloc.hugetlb=1";
}

}  // namespace slim
