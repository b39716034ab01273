#include "util/startup_env.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/cpu_load.h"
#include "util/huge_pages.h"

namespace slim {

bool env_set(const char* v) { return v != nullptr && *v != '\0'; }

std::string omp_spin_count(const char* omp_wait_policy, const char* gomp_spincount, double idle_cpus, int n_cpus) {
  if (env_set(omp_wait_policy) || env_set(gomp_spincount)) return "";
  return n_cpus >= 1 && idle_cpus >= double(n_cpus) - 0.5 ? "10000" : "1000";
}

void reexec_with_startup_env(char** argv) {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(f, mode);
  // (name, value to set); the old values to put back if the exec fails.
  std::vector<std::pair<std::string, std::string>> next;
  const std::string tunables =
      malloc_huge_pages_tunables(mode, std::getenv("GLIBC_TUNABLES"), std::getenv("SLIM_NO_HUGE_PAGES"));
  if (!tunables.empty()) next.emplace_back("GLIBC_TUNABLES", tunables);
  // 50 ms of /proc/stat (5 ticks a CPU): only when the user set neither variable.
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spincount = std::getenv("GOMP_SPINCOUNT");
  const bool user_set = env_set(policy) || env_set(spincount);
  const std::string spin =
      omp_spin_count(policy, spincount, user_set ? -1 : idle_cpus(50), int(sysconf(_SC_NPROCESSORS_ONLN)));
  if (!spin.empty()) next.emplace_back("GOMP_SPINCOUNT", spin);
  if (next.empty()) return;
  std::vector<std::optional<std::string>> old;  // (next.size()) the values before, nullopt: unset
  for (const auto& [name, value] : next) {
    const char* v = std::getenv(name.c_str());
    old.push_back(v ? std::optional<std::string>(v) : std::nullopt);
    if (::setenv(name.c_str(), value.c_str(), 1) != 0) return;  // out of memory: nothing else would work either
  }
  ::execv("/proc/self/exe", argv);
  // The exec failed (no /proc): go on without, leaving the environment as it was.
  for (size_t i = 0; i < next.size(); ++i) {
    if (old[i]) ::setenv(next[i].first.c_str(), old[i]->c_str(), 1);
    else ::unsetenv(next[i].first.c_str());
  }
}

}  // namespace slim
