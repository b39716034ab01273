// Resident memory of this process, as the kernel accounts it (Linux).
#pragma once
#include <cstdint>

namespace slim {

// Peak resident set size (VmHWM) in bytes; 0 when /proc is unavailable.
int64_t peak_rss_bytes();
// Current resident set size (VmRSS) in bytes; 0 when /proc is unavailable.
int64_t current_rss_bytes();

}  // namespace slim
