// Transparent huge pages for large buffers. Why: on the machines measured (a
// VM, THP in "madvise" mode, the Debian default) the first touch of fresh
// 4 KiB pages costs ~4 ms per MB: unpacking a 4096-wide GPTQ factor into a
// new 67 MB square took 0.21-0.30 s, 0.006-0.045 s with huge pages, and a
// 1-layer 7B-wide GPTQ run spent 11-33% less wall time with glibc's malloc
// advising them (docs/RESULTS.md, "Huge pages").
#pragma once
#include <cstddef>
#include <string>

namespace slim {

// Asks for huge pages on the whole 2 MiB pages inside [p, p + bytes)
// (advice only: nothing changes where the kernel says no).
void advise_huge_pages(void* p, size_t bytes);

// What slim re-executes with at start (startup_env.h) so that glibc's malloc
// asks for huge pages on every large allocation (the tunable is read only at
// process start), when the kernel gives them only on request ("madvise"
// mode) and GLIBC_TUNABLES does not already say; SLIM_NO_HUGE_PAGES=1 runs
// as is. Returns the GLIBC_TUNABLES value to re-execute with, or "" to run as
// is, from the first line of /sys/kernel/mm/transparent_hugepage/enabled
// (e.g. "always [madvise] never"), the current GLIBC_TUNABLES and
// SLIM_NO_HUGE_PAGES (nullptr: unset).
std::string malloc_huge_pages_tunables(const std::string& thp_mode, const char* glibc_tunables,
                                       const char* no_huge_pages);

}  // namespace slim
