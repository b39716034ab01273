// Progress lines for long work: "label i/N  elapsed  ETA" on stderr, at most a
// few per second so logs stay readable when piped.
#pragma once
#include <chrono>
#include <string>

namespace slim {

class Progress {
 public:
  Progress(std::string label, long total, bool enabled = true);
  // Marks `done` units finished; `note` is appended to the line.
  void update(long done, const std::string& note = "");
  void finish(const std::string& note = "");
  double elapsed_s() const;

 private:
  std::string label_;
  long total_;
  bool enabled_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace slim
