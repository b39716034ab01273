// Settings that libraries read only when the process starts, applied by
// re-executing slim once at the top of main: glibc's malloc huge pages
// (huge_pages.h) and libgomp's spin before a waiting thread sleeps.
#pragma once
#include <string>

#include "util/cpu_load.h"  // idle_cpus

namespace slim {

// An environment variable's value (std::getenv) is set and not empty.
bool env_set(const char* v);

// libgomp spins GOMP_SPINCOUNT iterations (default 300000) at every barrier
// and fork before it sleeps. On a machine where another process wants a
// core, the spinning thread takes the time slice the working thread needs:
// measured, TinyLlama RTN 4-bit decode on 2 threads with one busy loop
// beside it, 10.7-16.1 tok/s by default, 23.5-24.0 with 1000, 29.3 with
// OMP_WAIT_POLICY=passive; on a free machine 47-53 by default, 47-50 with
// 1000, 44-45 passive (docs/RESULTS.md, "OpenMP waiting"). On a free
// Emerald Rapids, though, 1000 cost 13-15% of the decode that 10000 gives
// (SliM 2-bit 51.6-51.9 vs 58.0-59.6 tok/s), while with a busy loop beside
// 10000 fell to 16.4-19.2 against 27.6-28.8. So: the user's setting if
// OMP_WAIT_POLICY or GOMP_SPINCOUNT is set (nullptr: unset; returns "" to
// leave the environment alone); else 10000 when the machine was idle at
// start (idle_cpus >= n_cpus - 0.5: slim's threads will not compete), else
// 1000 (also when idle_cpus < 0: unknown).
std::string omp_spin_count(const char* omp_wait_policy, const char* gomp_spincount, double idle_cpus, int n_cpus);

// Called first in main: sets what malloc_huge_pages_tunables (huge_pages.h)
// and omp_spin_count decide, and when anything changed re-executes this
// program (/proc/self/exe, same arguments and pid) so that glibc and
// libgomp read it. Returns when nothing is to be done or the exec failed
// (the environment then as it was).
void reexec_with_startup_env(char** argv);

}  // namespace slim
