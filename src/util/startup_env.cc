#include "util/startup_env.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/huge_pages.h"

namespace slim {

std::string omp_spin_count(const char* omp_wait_policy, const char* gomp_spincount) {
  const auto set = [](const char* v) { return v != nullptr && *v != '\0'; };
  return set(omp_wait_policy) || set(gomp_spincount) ? "" : "1000";
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
  const std::string spin = omp_spin_count(std::getenv("OMP_WAIT_POLICY"), std::getenv("GOMP_SPINCOUNT"));
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
