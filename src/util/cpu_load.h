// What other programs do to the CPUs this process may run on, read from
// /proc/stat: the start-up spin count (startup_env.h) and the decode team
// that shrinks while another program holds a core (LoadAdaptiveThreads).
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace slim {

// Ticks of a /proc/stat "cpu" line (the aggregate) or "cpuN" line (one CPU).
struct CpuTicks {
  unsigned long long idle = 0;   // idle + iowait
  unsigned long long steal = 0;  // a VM's time taken by the hypervisor
  unsigned long long total = 0;  // user, nice, system, idle, iowait, irq, softirq, steal (guest is in user)
};

// Parses one /proc/stat line: cpu = -1 for the aggregate "cpu" line, N for
// "cpuN". False for any other line or a truncated one.
bool parse_proc_stat_line(const std::string& line, int& cpu, CpuTicks& t);

// How many CPUs were idle over the next `ms` milliseconds (/proc/stat's
// idle share times the CPUs online); -1 when /proc/stat cannot be read.
double idle_cpus(int ms);
// idle_cpus' arithmetic on two samples of the aggregate line: n_cpus times
// the idle share of the ticks between them (at most n_cpus); -1 when no tick
// passed, the idle count fell (iowait can) or n_cpus < 1.
double idle_cpus_between(unsigned long long idle0, unsigned long long total0, unsigned long long idle1,
                         unsigned long long total1, long n_cpus);

// The CPUs this process may run on (sched_getaffinity); empty if unknown.
std::vector<int> allowed_cpus();
// The sum of the /proc/stat lines of `cpus` (empty: the aggregate line),
// read now. False when /proc/stat cannot be read or names none of them.
bool read_cpu_ticks(const std::vector<int>& cpus, CpuTicks& t);

// CPUs that other programs kept busy between samples a and b of n_cpus CPUs,
// while this process used self_cpu_s seconds of CPU in wall_s seconds: the
// busy share (neither idle, iowait nor steal) of the ticks times n_cpus, less
// this process's own CPUs (its spinning threads are busy ticks too), within
// [0, n_cpus]. -1 when unknown (no tick passed, a count fell, wall_s <= 0).
double others_busy_cpus(const CpuTicks& a, const CpuTicks& b, int n_cpus, double self_cpu_s, double wall_s);

// The team for the next steps, from the CPUs the other programs leave free:
// unchanged while free_cpus is within 0.6 of it (a busy loop beside a 2-thread
// team on 2 CPUs takes ~2/3 of a CPU, and a team of one leaves it one whole),
// else free_cpus rounded, within [1, max_threads]. free_cpus < 0: unknown,
// unchanged.
int threads_for_free_cpus(double free_cpus, int current, int max_threads);

// Decode's OpenMP team, sized between steps by the load of other programs.
// Why: on 2 CPUs with one busy loop beside it, a 2-thread decode ran at
// 25-28 tok/s (17-18 when the loop started after slim chose libgomp's spin
// count), a 1-thread one at 31-32 (docs/RESULTS.md, "A decode team that
// follows the load"): a thread that shares its core with another program
// makes the whole team wait at every barrier.
class LoadAdaptiveThreads {
 public:
  struct Clock {
    std::function<double()> wall_s;      // monotonic seconds
    std::function<double()> self_cpu_s;  // this process's CPU seconds
    std::function<bool(CpuTicks&)> ticks;
  };
  // Starts at max_threads; `enabled` false (the user fixed the count) keeps
  // it there. n_cpus = the CPUs `clock.ticks` sums over.
  LoadAdaptiveThreads(int max_threads, bool enabled, int n_cpus, Clock clock, double period_s = 0.25);
  // This process on the CPUs it may use, /proc/stat and the real clocks.
  LoadAdaptiveThreads(int max_threads, bool enabled);
  // Call between steps: at most once a period it samples the load and
  // returns true when the team size changed (then threads() is the new one).
  bool tick();
  int threads() const { return threads_; }
  int fewest() const { return fewest_; }
  int changes() const { return changes_; }

 private:
  LoadAdaptiveThreads(int max_threads, bool enabled, const std::vector<int>& cpus);
  bool sample();
  int max_threads_, n_cpus_, threads_, fewest_, changes_ = 0;
  bool enabled_;
  double period_s_;
  Clock clock_;
  double wall0_ = 0, self0_ = 0;
  CpuTicks ticks0_;
  bool have0_ = false;
};

}  // namespace slim
