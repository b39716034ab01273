#include "util/startup_env.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "util/huge_pages.h"

namespace slim {

namespace {
bool env_set(const char* v) { return v != nullptr && *v != '\0'; }
}  // namespace

std::string omp_spin_count(const char* omp_wait_policy, const char* gomp_spincount, double idle_cpus, int n_cpus) {
  if (env_set(omp_wait_policy) || env_set(gomp_spincount)) return "";
  return n_cpus >= 1 && idle_cpus >= double(n_cpus) - 0.5 ? "10000" : "1000";
}

bool parse_proc_stat_cpu(const std::string& line, unsigned long long& idle, unsigned long long& total) {
  std::istringstream in(line);
  std::string name;
  unsigned long long v[8];
  if (!(in >> name) || name != "cpu") return false;
  for (auto& x : v)
    if (!(in >> x)) return false;
  idle = v[3] + v[4];
  total = 0;
  for (auto x : v) total += x;
  return true;
}

double idle_cpus(int ms) {
  auto sample = [](unsigned long long& idle, unsigned long long& total) {
    std::ifstream f("/proc/stat");
    std::string line;
    return std::getline(f, line) && parse_proc_stat_cpu(line, idle, total);
  };
  unsigned long long i0, t0, i1, t1;
  if (!sample(i0, t0)) return -1;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  if (!sample(i1, t1)) return -1;
  return idle_cpus_between(i0, t0, i1, t1, sysconf(_SC_NPROCESSORS_ONLN));
}

double idle_cpus_between(unsigned long long idle0, unsigned long long total0, unsigned long long idle1,
                         unsigned long long total1, long n_cpus) {
  // iowait may go backwards (proc(5)): a falling idle count is unknown, not a huge one.
  if (total1 <= total0 || idle1 < idle0 || n_cpus < 1) return -1;
  return double(n_cpus) * std::min(1.0, double(idle1 - idle0) / double(total1 - total0));
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
