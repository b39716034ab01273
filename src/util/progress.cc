#include "util/progress.h"

#include "util/memory.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace slim {

namespace {
std::string hms(double s) {
  if (s < 0 || s > 1e7) return "?";
  long t = long(s + 0.5);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t / 60) % 60);
}
}  // namespace

Progress::Progress(std::string label, long total, bool enabled, double min_interval_s)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(isatty(2)),
      min_interval_s_(min_interval_s >= 0 ? min_interval_s : (tty_ ? 0.2 : 5.0)) {
  start_ = last_print_ = std::chrono::steady_clock::now();
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(long done, const std::string& note) { update_fraction(double(done), note); }

void Progress::update_fraction(double done, const std::string& note) {
  if (!enabled_) return;
  (void)sampled_peak_anonymous_bytes();
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  if (done < double(total_) && since < min_interval_s_) return;
  last_print_ = now;
  double el = elapsed_s();
  const double here = done - double(done_before_);  // units done by this run
  double eta = here > 0 ? el * (double(total_) - done) / here : -1;
  std::string line = fmt::format("{} {}/{}  elapsed {}  ETA {}{}{}", label_, long(done), total_, hms(el),
                                 hms(eta), note.empty() ? "" : "  ", note);
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void Progress::finish(const std::string& note) {
  if (!enabled_) return;
  std::string line = fmt::format("{} {}/{} done in {}{}{}", label_, total_, total_, hms(elapsed_s()),
                                 note.empty() ? "" : "  ", note);
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s\n", line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace slim
