// The load of other programs, read from /proc/stat, and the decode team that
// follows it (util/cpu_load.h).
#include "util/cpu_load.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

namespace slim {
namespace {

TEST(CpuLoad, ProcStatCpuLine) {
  int cpu = 0;
  CpuTicks t;
  ASSERT_TRUE(parse_proc_stat_line("cpu  100 2 30 400 5 6 7 8 9 10", cpu, t));
  EXPECT_EQ(cpu, -1);  // the aggregate line
  EXPECT_EQ(t.idle, 405u);
  EXPECT_EQ(t.total, 558u);  // the first 8 fields; guest time is already in user
  ASSERT_TRUE(parse_proc_stat_line("cpu0 100 2 30 400 5 6 7 8", cpu, t));
  EXPECT_NE(cpu, -1);  // one CPU's line, not the aggregate
  EXPECT_FALSE(parse_proc_stat_line("cpu 100 2 30", cpu, t));  // truncated
  EXPECT_FALSE(parse_proc_stat_line("intr 12 3 4 5 6 7 8 9", cpu, t));
  EXPECT_FALSE(parse_proc_stat_line("", cpu, t));
  // Two samples: the idle share of the ticks between them, times the CPUs.
  EXPECT_DOUBLE_EQ(idle_cpus_between(100, 1000, 190, 1100, 2), 1.8);
  EXPECT_DOUBLE_EQ(idle_cpus_between(100, 1000, 100, 1100, 2), 0.0);
  EXPECT_EQ(idle_cpus_between(100, 1000, 150, 1000, 2), -1);  // no tick passed
  EXPECT_EQ(idle_cpus_between(100, 1000, 90, 1100, 2), -1);   // iowait went back: not 2^64 idle ticks
  EXPECT_EQ(idle_cpus_between(100, 1000, 190, 1100, 0), -1);
  // The live file, where there is one: between 0 and the CPUs online.
  const double idle_now = idle_cpus(20);
  if (idle_now >= 0) {
    EXPECT_LE(idle_now, double(sysconf(_SC_NPROCESSORS_ONLN)) + 1e-9);
  }
}

TEST(CpuLoad, ProcStatPerCpuLines) {
  int cpu = 0;
  CpuTicks t;
  ASSERT_TRUE(parse_proc_stat_line("cpu3 100 2 30 400 5 6 7 8 9 10", cpu, t));
  EXPECT_EQ(cpu, 3);
  EXPECT_EQ(t.idle, 405u);
  EXPECT_EQ(t.steal, 8u);
  EXPECT_EQ(t.total, 558u);
  ASSERT_TRUE(parse_proc_stat_line("cpu 1 2 3 4 5 6 7 8", cpu, t));
  EXPECT_EQ(cpu, -1);
  EXPECT_FALSE(parse_proc_stat_line("cpux 1 2 3 4 5 6 7 8", cpu, t));
  EXPECT_FALSE(parse_proc_stat_line("cpu99999999999 1 2 3 4 5 6 7 8", cpu, t));
  EXPECT_FALSE(parse_proc_stat_line("cpu1 1 2 3", cpu, t));
  EXPECT_FALSE(parse_proc_stat_line("ctxt 12345", cpu, t));
  // The live file: our own CPUs' lines sum to no more than the aggregate.
  const std::vector<int> mine = allowed_cpus();
  CpuTicks all, some;
  if (!mine.empty() && read_cpu_ticks({}, all) && read_cpu_ticks(mine, some)) {
    EXPECT_GT(some.total, 0u);
    EXPECT_LE(some.total, all.total + 1000);  // the two reads are a moment apart
  }
}

TEST(CpuLoad, OthersBusyIsTheBusyShareLessOurOwn) {
  const CpuTicks a{1000, 10, 4000};
  // 200 ticks over 2 CPUs (1 s at 100 Hz): 40 idle, 0 stolen: 1.6 CPUs busy,
  // of which this process used 0.9 s in 1 s.
  EXPECT_NEAR(others_busy_cpus(a, {1040, 10, 4200}, 2, 0.9, 1.0), 0.7, 1e-9);
  // Stolen ticks are nobody's here: 40 idle + 60 stolen leave 1.0 busy.
  EXPECT_NEAR(others_busy_cpus(a, {1040, 70, 4200}, 2, 0.5, 1.0), 0.5, 1e-9);
  // Our CPU time measured a little over the ticks: never below 0.
  EXPECT_EQ(others_busy_cpus(a, {1100, 10, 4200}, 2, 1.5, 1.0), 0.0);
  EXPECT_EQ(others_busy_cpus(a, a, 2, 0.0, 1.0), -1);                  // no tick
  EXPECT_EQ(others_busy_cpus(a, {990, 10, 4200}, 2, 0.0, 1.0), -1);    // idle fell (iowait can)
  EXPECT_EQ(others_busy_cpus(a, {1040, 10, 4200}, 2, 0.0, 0.0), -1);   // no wall time
  EXPECT_EQ(others_busy_cpus(a, {1040, 10, 4200}, 0, 0.0, 1.0), -1);
}

TEST(CpuLoad, TeamFollowsTheFreeCpusWithAMargin) {
  // A busy loop beside a 2-thread team on 2 CPUs takes ~2/3 of one.
  EXPECT_EQ(threads_for_free_cpus(2.0 - 0.67, 2, 2), 1);
  EXPECT_EQ(threads_for_free_cpus(1.0, 1, 2), 1);  // the loop keeps its CPU
  EXPECT_EQ(threads_for_free_cpus(2.0, 1, 2), 2);  // gone
  EXPECT_EQ(threads_for_free_cpus(1.55, 2, 2), 2);  // a light load: within the margin
  EXPECT_EQ(threads_for_free_cpus(1.5, 1, 2), 1);
  EXPECT_EQ(threads_for_free_cpus(0.1, 2, 2), 1);  // never below one
  EXPECT_EQ(threads_for_free_cpus(7.0, 2, 4), 4);  // never above the most
  EXPECT_EQ(threads_for_free_cpus(5.2, 8, 8), 5);
  EXPECT_EQ(threads_for_free_cpus(-1, 2, 2), 2);   // unknown
}

// A scripted machine: 2 CPUs at 100 ticks a second each; `others` CPUs kept
// busy by other programs and `self` by this process, per step of `dt`.
struct FakeMachine {
  double wall = 0, self = 0;
  CpuTicks ticks{0, 0, 0};
  int reads = 0;
  void run(double dt, double others, double self_cpus) {
    wall += dt;
    self += self_cpus * dt;
    const auto total = static_cast<unsigned long long>(200 * dt + 0.5);
    const auto busy = static_cast<unsigned long long>(100 * dt * (others + self_cpus) + 0.5);
    ticks.total += total;
    ticks.idle += total - busy;
  }
  LoadAdaptiveThreads::Clock clock() {
    return {[this] { return wall; }, [this] { return self; },
            [this](CpuTicks& t) {
              ++reads;
              t = ticks;
              return true;
            }};
  }
};

TEST(CpuLoad, DecodeTeamShrinksUnderLoadAndComesBack) {
  FakeMachine m;
  LoadAdaptiveThreads team(2, true, 2, m.clock(), 0.25);
  // Free: 2 threads busy (spinning counts), nobody else.
  for (int i = 0; i < 20; ++i) {
    m.run(0.05, 0.0, 2.0);
    EXPECT_FALSE(team.tick());
  }
  EXPECT_EQ(team.threads(), 2);
  EXPECT_LE(m.reads, 1 + 20 * 0.05 / 0.25 + 1);  // /proc/stat once a period, not per step
  // A busy loop arrives: it gets ~2/3 of a CPU beside our two threads.
  bool changed = false;
  for (int i = 0; i < 10; ++i) {
    m.run(0.05, 0.67, 1.33);
    changed |= team.tick();
  }
  EXPECT_TRUE(changed);
  EXPECT_EQ(team.threads(), 1);
  // With one thread the loop has its own CPU: stays at one.
  for (int i = 0; i < 20; ++i) {
    m.run(0.05, 1.0, 1.0);
    EXPECT_FALSE(team.tick());
  }
  // The loop ends: back to two.
  for (int i = 0; i < 10; ++i) {
    m.run(0.05, 0.0, 1.0);
    team.tick();
  }
  EXPECT_EQ(team.threads(), 2);
  EXPECT_EQ(team.fewest(), 1);
  EXPECT_EQ(team.changes(), 2);
}

TEST(CpuLoad, FixedTeamNeverMovesNorReads) {
  FakeMachine m;
  LoadAdaptiveThreads team(2, false, 2, m.clock(), 0.25);
  for (int i = 0; i < 20; ++i) {
    m.run(0.05, 1.0, 1.0);
    EXPECT_FALSE(team.tick());
  }
  EXPECT_EQ(team.threads(), 2);
  EXPECT_EQ(team.changes(), 0);
  EXPECT_EQ(m.reads, 0);
  // One thread at most: nothing to adapt.
  LoadAdaptiveThreads one(1, true, 2, m.clock(), 0.25);
  m.run(1.0, 2.0, 0.0);
  EXPECT_FALSE(one.tick());
  EXPECT_EQ(one.threads(), 1);
}

}  // namespace
}  // namespace slim
