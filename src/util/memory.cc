#include "util/memory.h"

#include <fstream>
#include <string>

namespace slim {

namespace {
// Reads a "Key:   123 kB" line of /proc/self/status.
int64_t status_kib(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.compare(0, prefix.size(), prefix) == 0) return std::stoll(line.substr(prefix.size()));
  return 0;
}
}  // namespace

int64_t peak_rss_bytes() { return status_kib("VmHWM") * 1024; }
int64_t current_rss_bytes() { return status_kib("VmRSS") * 1024; }

}  // namespace slim
