#include "util/memory.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <string>

#include "util/error.h"

namespace slim {

namespace {
// Reads a "Key:   123 kB" line of a /proc file.
int64_t proc_kib(const char* file, const char* key) {
  std::ifstream f(file);
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.compare(0, prefix.size(), prefix) == 0) return std::stoll(line.substr(prefix.size()));
  return -1;
}

std::string gib(int64_t b) { return fmt::format("{:.2f} GiB", double(b) / (1 << 30)); }

// "123", "64M", "2G", "512k" -> bytes.
int64_t parse_size(const std::string& s) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (...) {
    fail("SLIM_MEMORY_LIMIT='{}': expected a size such as 8G, 512M or a byte count, or 'off'", s);
  }
  std::string suffix = s.substr(pos);
  double mul = 1;
  if (!suffix.empty()) {
    const char u = char(std::toupper(static_cast<unsigned char>(suffix[0])));
    mul = u == 'K' ? 1024.0 : u == 'M' ? 1048576.0 : u == 'G' ? 1073741824.0 : u == 'T' ? 1099511627776.0 : 0;
    SLIM_CHECK(mul > 0 && (suffix.size() == 1 || suffix.substr(1) == "B" || suffix.substr(1) == "iB"),
               "SLIM_MEMORY_LIMIT='{}': unknown unit '{}'", s, suffix);
  }
  SLIM_CHECK(v >= 0 && v * mul < 9e18, "SLIM_MEMORY_LIMIT='{}': out of range", s);
  return int64_t(v * mul);
}
}  // namespace

int64_t peak_rss_bytes() { return std::max<int64_t>(0, proc_kib("/proc/self/status", "VmHWM")) * 1024; }
int64_t current_rss_bytes() { return std::max<int64_t>(0, proc_kib("/proc/self/status", "VmRSS")) * 1024; }

int64_t anonymous_rss_bytes() { return std::max<int64_t>(0, proc_kib("/proc/self/status", "RssAnon")) * 1024; }

int64_t sampled_peak_anonymous_bytes() {
  static std::atomic<int64_t> peak{0};
  const int64_t now = anonymous_rss_bytes();
  int64_t p = peak.load();
  while (now > p && !peak.compare_exchange_weak(p, now)) {
  }
  return std::max(p, now);
}

int64_t available_memory_bytes() {
  if (const char* env = std::getenv("SLIM_MEMORY_LIMIT"); env && *env) {
    const std::string s = env;
    if (s == "off" || s == "none") return -1;
    return parse_size(s);
  }
  const int64_t kib = proc_kib("/proc/meminfo", "MemAvailable");
  return kib < 0 ? -1 : kib * 1024;
}

int64_t MemoryNeed::total() const {
  int64_t t = 0;
  for (const auto& [_, b] : parts) t += b;
  return t;
}

std::string MemoryNeed::describe() const {
  std::string s = gib(total()) + " (";
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i].first + " " + gib(parts[i].second);
  return s + ")";
}

void require_memory(const MemoryNeed& need, const std::string& what, const std::string& hint) {
  const int64_t avail = available_memory_bytes();
  if (avail < 0 || need.total() <= avail) return;
  fail("{} needs about {}, more than the {} available{}; {} (SLIM_MEMORY_LIMIT=off skips this check)", what,
       need.describe(), gib(avail), std::getenv("SLIM_MEMORY_LIMIT") ? " (SLIM_MEMORY_LIMIT)" : "", hint);
}

}  // namespace slim
