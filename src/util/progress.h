// Progress lines for long work: "label i/N  elapsed  ETA" on stderr, at most a
// few per second so logs stay readable when piped.
#pragma once
#include <chrono>
#include <string>

namespace slim {

class Progress {
 public:
  // Lines at most every `min_interval_s` seconds before the last unit
  // (default: 0.2 s on a terminal, 5 s in a log).
  Progress(std::string label, long total, bool enabled = true, double min_interval_s = -1);
  // Marks `done` units finished; `note` is appended to the line.
  void update(long done, const std::string& note = "");
  // The same inside a unit: `done` counts a unit's finished part as a
  // fraction (block 3 of 32 half done: 3.5), so that the ETA moves during
  // units that take an hour; the line shows the whole units.
  void update_fraction(double done, const std::string& note = "");
  // Units done by an earlier run (a resumed job): shown in i/N, not counted
  // in this run's rate, so the ETA stays right.
  void set_done_before(long done) { done_before_ = done; }
  void finish(const std::string& note = "");
  double elapsed_s() const;

 private:
  std::string label_;
  long total_;
  bool enabled_;
  bool tty_;
  double min_interval_s_;
  long done_before_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace slim
