#include "util/cpu_load.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace slim {

bool parse_proc_stat_line(const std::string& line, int& cpu, CpuTicks& t) {
  if (line.compare(0, 3, "cpu") != 0) return false;
  std::istringstream in(line);
  std::string name;
  unsigned long long v[8];
  if (!(in >> name)) return false;
  if (name == "cpu") {
    cpu = -1;
  } else {
    const std::string digits = name.substr(3);
    if (digits.empty() || digits.size() > 6 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return false;
    cpu = std::stoi(digits);
  }
  for (auto& x : v)
    if (!(in >> x)) return false;
  t.idle = v[3] + v[4];
  t.steal = v[7];
  t.total = 0;
  for (auto x : v) t.total += x;
  return true;
}

double idle_cpus(int ms) {
  CpuTicks a, b;
  if (!read_cpu_ticks({}, a)) return -1;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  if (!read_cpu_ticks({}, b)) return -1;
  return idle_cpus_between(a.idle, a.total, b.idle, b.total, sysconf(_SC_NPROCESSORS_ONLN));
}

double idle_cpus_between(unsigned long long idle0, unsigned long long total0, unsigned long long idle1,
                         unsigned long long total1, long n_cpus) {
  // iowait may go backwards (proc(5)): a falling idle count is unknown, not a huge one.
  if (total1 <= total0 || idle1 < idle0 || n_cpus < 1) return -1;
  return double(n_cpus) * std::min(1.0, double(idle1 - idle0) / double(total1 - total0));
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set)) cpus.push_back(i);
  return cpus;
}

bool read_cpu_ticks(const std::vector<int>& cpus, CpuTicks& t) {
  std::ifstream f("/proc/stat");
  std::string line;
  t = CpuTicks{};
  size_t found = 0;
  while (std::getline(f, line)) {
    int cpu = 0;
    CpuTicks one;
    if (!parse_proc_stat_line(line, cpu, one)) {
      if (line.compare(0, 3, "cpu") != 0) break;  // the cpu lines come first
      continue;
    }
    if (cpus.empty() ? cpu != -1 : !std::binary_search(cpus.begin(), cpus.end(), cpu)) continue;
    t.idle += one.idle;
    t.steal += one.steal;
    t.total += one.total;
    ++found;
    if (cpus.empty()) break;
  }
  return found > 0;
}

double others_busy_cpus(const CpuTicks& a, const CpuTicks& b, int n_cpus, double self_cpu_s, double wall_s) {
  if (b.total <= a.total || b.idle < a.idle || b.steal < a.steal || n_cpus < 1 || !(wall_s > 0)) return -1;
  const double total = double(b.total - a.total);
  const double not_busy = double(b.idle - a.idle) + double(b.steal - a.steal);
  const double busy = double(n_cpus) * std::max(0.0, 1.0 - not_busy / total);
  return std::clamp(busy - std::max(0.0, self_cpu_s) / wall_s, 0.0, double(n_cpus));
}

int threads_for_free_cpus(double free_cpus, int current, int max_threads) {
  if (!(free_cpus >= 0) || std::abs(free_cpus - current) < 0.6) return current;
  return std::clamp(int(std::lround(free_cpus)), 1, std::max(1, max_threads));
}

LoadAdaptiveThreads::LoadAdaptiveThreads(int max_threads, bool enabled, int n_cpus, Clock clock, double period_s)
    : max_threads_(std::max(1, max_threads)),
      n_cpus_(n_cpus),
      threads_(max_threads_),
      fewest_(max_threads_),
      enabled_(enabled && max_threads_ > 1 && n_cpus > 0),
      period_s_(period_s),
      clock_(std::move(clock)) {
  if (enabled_) have0_ = sample();
}

namespace {
LoadAdaptiveThreads::Clock process_clock(const std::vector<int>& cpus) {
  return {[] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); },
          [] {
            timespec ts{};
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
            return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
          },
          [cpus](CpuTicks& t) { return read_cpu_ticks(cpus, t); }};
}
}  // namespace

LoadAdaptiveThreads::LoadAdaptiveThreads(int max_threads, bool enabled)
    : LoadAdaptiveThreads(max_threads, enabled, allowed_cpus()) {}

LoadAdaptiveThreads::LoadAdaptiveThreads(int max_threads, bool enabled, const std::vector<int>& cpus)
    : LoadAdaptiveThreads(max_threads, enabled && !cpus.empty(), int(cpus.size()), process_clock(cpus)) {}

bool LoadAdaptiveThreads::sample() {
  CpuTicks t;
  if (!clock_.ticks(t)) return false;
  wall0_ = clock_.wall_s();
  self0_ = clock_.self_cpu_s();
  ticks0_ = t;
  return true;
}

bool LoadAdaptiveThreads::tick() {
  if (!enabled_) return false;
  const double wall = clock_.wall_s();
  if (have0_ && wall - wall0_ < period_s_) return false;
  const double self = clock_.self_cpu_s();
  CpuTicks t;
  if (!clock_.ticks(t)) return false;
  const double others = have0_ ? others_busy_cpus(ticks0_, t, n_cpus_, self - self0_, wall - wall0_) : -1;
  wall0_ = wall;
  self0_ = self;
  ticks0_ = t;
  have0_ = true;
  const int next = threads_for_free_cpus(others < 0 ? -1 : double(n_cpus_) - others, threads_, max_threads_);
  if (next == threads_) return false;
  threads_ = next;
  fewest_ = std::min(fewest_, next);
  ++changes_;
  return true;
}

}  // namespace slim
