#include "util/memory.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
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
// The first line of a cgroup file as a byte count; -1 for "max", a value
// beyond 2^62 (cgroup v1 writes PAGE_COUNTER_MAX for "no limit"), or a
// missing/unreadable file.
int64_t cgroup_value(const std::filesystem::path& file) {
  std::ifstream f(file);
  std::string v;
  if (!(f >> v) || v == "max") return -1;
  try {
    size_t pos = 0;
    const long long x = std::stoll(v, &pos);
    if (pos != v.size() || x < 0 || x > (int64_t(1) << 62)) return -1;
    return x;
  } catch (...) {
    return -1;
  }
}

// "key value" lines of memory.stat.
int64_t cgroup_stat(const std::filesystem::path& file, const std::string& key) {
  std::ifstream f(file);
  std::string k;
  long long v = 0;
  while (f >> k >> v)
    if (k == key) return v;
  return 0;
}

// Headroom of one cgroup directory; -1 when it has no limit.
int64_t cgroup_headroom(const std::filesystem::path& dir, bool v2) {
  const int64_t limit = cgroup_value(dir / (v2 ? "memory.max" : "memory.limit_in_bytes"));
  if (limit < 0) return -1;
  const int64_t usage = cgroup_value(dir / (v2 ? "memory.current" : "memory.usage_in_bytes"));
  if (usage < 0) return -1;
  const int64_t inactive = cgroup_stat(dir / "memory.stat", v2 ? "inactive_file" : "total_inactive_file");
  const int64_t used = std::max<int64_t>(0, usage - std::clamp<int64_t>(inactive, 0, usage));
  return std::max<int64_t>(0, limit - used);
}
}  // namespace

int64_t cgroup_available_bytes(const std::string& proc_cgroup, const std::string& sys_cgroup) {
  namespace fs = std::filesystem;
  std::ifstream f(proc_cgroup);
  std::string line;
  int64_t best = -1;
  auto take = [&](int64_t h) {
    if (h >= 0) best = best < 0 ? h : std::min(best, h);
  };
  while (std::getline(f, line)) {
    // "hierarchy-id:controllers:path"; v2 is "0::path", v1's memory line names "memory".
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const fs::path path = fs::path(line.substr(b + 1)).relative_path();
    bool v2 = false;
    fs::path mount;
    if (controllers.empty() && line.compare(0, a, "0") == 0) {
      v2 = true;
      mount = fs::exists(fs::path(sys_cgroup) / "cgroup.controllers") ? fs::path(sys_cgroup)
                                                                      : fs::path(sys_cgroup) / "unified";
    } else {
      std::stringstream cs(controllers);
      std::string c;
      bool memory = false;
      while (std::getline(cs, c, ','))
        if (c == "memory") memory = true;
      if (!memory) continue;
      mount = fs::path(sys_cgroup) / "memory";
    }
    // In a container the path is the host's and the mount shows only our own
    // subtree: then the mount's root is our cgroup.
    fs::path dir = mount / path;
    if (!fs::exists(dir)) dir = mount;
    for (;; dir = dir.parent_path()) {
      take(cgroup_headroom(dir, v2));
      if (dir == mount || dir.parent_path() == dir || dir.string().size() <= mount.string().size()) break;
    }
  }
  return best;
}

int64_t peak_rss_bytes() { return std::max<int64_t>(0, proc_kib("/proc/self/status", "VmHWM")) * 1024; }
int64_t current_rss_bytes() { return std::max<int64_t>(0, proc_kib("/proc/self/status", "VmRSS")) * 1024; }

int64_t anonymous_rss_bytes() { return std::max<int64_t>(0, proc_kib("/proc/self/status", "RssAnon")) * 1024; }

namespace {
std::atomic<int64_t> g_anonymous_peak{0};  // constant-initialized: safe from the sampler thread at any time
}  // namespace

AnonymousMemorySampler::AnonymousMemorySampler(std::chrono::milliseconds period)
    : thread_([this, period] {
        std::unique_lock lock(m_);
        while (!stop_) {
          (void)sampled_peak_anonymous_bytes();
          cv_.wait_for(lock, period, [this] { return stop_; });
        }
      }) {}

AnonymousMemorySampler::~AnonymousMemorySampler() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

int64_t sampled_peak_anonymous_bytes() {
  std::atomic<int64_t>& peak = g_anonymous_peak;
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
  const int64_t machine = kib < 0 ? -1 : kib * 1024, cgroup = cgroup_available_bytes();
  if (machine < 0) return cgroup;
  return cgroup < 0 ? machine : std::min(machine, cgroup);
}

namespace {
// Bytes by phase, in order of first appearance ("" first: held throughout).
std::vector<std::pair<std::string, int64_t>> phase_totals(const MemoryNeed& need) {
  std::vector<std::pair<std::string, int64_t>> t{{"", 0}};
  for (const auto& p : need.parts) {
    auto it = std::find_if(t.begin(), t.end(), [&](const auto& e) { return e.first == p.phase; });
    if (it == t.end()) it = t.insert(t.end(), {p.phase, 0});
    it->second += p.bytes;
  }
  return t;
}

// Index of the phase with the most bytes (the first of equals) in
// phase_totals; 0 when every part is held throughout.
size_t largest_phase(const std::vector<std::pair<std::string, int64_t>>& t) {
  size_t k = 0;
  for (size_t i = 1; i < t.size(); ++i)
    if (k == 0 || t[i].second > t[k].second) k = i;
  return k;
}
}  // namespace

int64_t MemoryNeed::total() const {
  const auto t = phase_totals(*this);
  const size_t k = largest_phase(t);
  return t[0].second + (k > 0 ? t[k].second : 0);
}

std::string MemoryNeed::describe() const {
  const auto t = phase_totals(*this);
  const size_t k = largest_phase(t);
  std::string s = gib(total()) + " (";
  bool first = true;
  for (const Part& p : parts)
    if (p.phase.empty()) s += (first ? "" : ", ") + p.what + " " + gib(p.bytes), first = false;
  if (k > 0) {
    s += (first ? "" : "; ") + std::string("then the largest phase, ") + t[k].first + ":";
    for (const Part& p : parts)
      if (p.phase == t[k].first) s += " " + p.what + " " + gib(p.bytes) + ",";
    s.pop_back();
  }
  return s + ")";
}

void require_memory(const MemoryNeed& need, const std::string& what, const std::string& hint) {
  const int64_t avail = available_memory_bytes();
  if (avail < 0 || need.total() <= avail) return;
  fail("{} needs about {}, more than the {} available{}; {} (SLIM_MEMORY_LIMIT=off skips this check)", what,
       need.describe(), gib(avail), std::getenv("SLIM_MEMORY_LIMIT") ? " (SLIM_MEMORY_LIMIT)" : "", hint);
}

}  // namespace slim
