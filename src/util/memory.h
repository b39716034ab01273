// Memory: what this process holds (as the kernel accounts it, Linux), what
// the machine has available, and the up-front check that refuses a command
// whose estimated need exceeds it.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <string>
#include <utility>
#include <vector>

namespace slim {

// Peak resident set size (VmHWM) in bytes; 0 when /proc is unavailable.
int64_t peak_rss_bytes();
// Current resident set size (VmRSS) in bytes; 0 when /proc is unavailable.
int64_t current_rss_bytes();
// Current anonymous resident memory (RssAnon: heap and buffers, not the pages
// of mapped model files, which the kernel can drop and re-read) in bytes.
int64_t anonymous_rss_bytes();
// The largest anonymous_rss_bytes() seen by any call so far (Progress samples
// it at every line, an AnonymousMemorySampler every 0.1 s), this call
// included: /proc has no peak of RssAnon.
int64_t sampled_peak_anonymous_bytes();

// While it lives, a thread samples anonymous_rss_bytes() every `period` into
// sampled_peak_anonymous_bytes(): sampling only at progress lines missed the
// peak inside a block (7B-wide gptq: 2.06 GiB reported, 2.96 GiB sampled from
// outside every 0.1 s). The CLI keeps one for the whole command.
class AnonymousMemorySampler {
 public:
  explicit AnonymousMemorySampler(std::chrono::milliseconds period = std::chrono::milliseconds(100));
  ~AnonymousMemorySampler();
  AnonymousMemorySampler(const AnonymousMemorySampler&) = delete;
  AnonymousMemorySampler& operator=(const AnonymousMemorySampler&) = delete;

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The memory a command may use: $SLIM_MEMORY_LIMIT when set (bytes, or with a
// K/M/G suffix; "off" disables the check: returns -1), else MemAvailable from
// /proc/meminfo, lowered to what this process's memory cgroup still allows
// (containers, Slurm jobs, systemd units: there the machine's free memory is
// not what the kernel will let us have); -1 when unknown (no check).
int64_t available_memory_bytes();

// What the memory cgroups this process is in still allow, in bytes: over the
// cgroup and each of its ancestors with a limit, the least of limit - (usage -
// inactive file pages, which the kernel reclaims before it kills). -1 when
// there is no limit or it cannot be read. `proc_cgroup` is /proc/self/cgroup,
// `sys_cgroup` the mount point /sys/fs/cgroup (cgroup v2 at its root or at
// "unified", v1 under "memory"); parameters so that tests can give a fake tree.
int64_t cgroup_available_bytes(const std::string& proc_cgroup = "/proc/self/cgroup",
                               const std::string& sys_cgroup = "/sys/fs/cgroup");

// The large buffers a command will allocate, by name. A part with a phase
// exists only during that phase (a quantization's Hessian pass, or its GPTQ
// factorisation), so the need is the parts held throughout plus the largest
// phase, not the sum of everything.
struct MemoryNeed {
  struct Part {
    std::string what;
    int64_t bytes = 0;
    std::string phase;  // "" = held throughout
  };
  std::vector<Part> parts;
  void add(std::string what, int64_t bytes, std::string phase = {}) {
    parts.push_back({std::move(what), bytes, std::move(phase)});
  }
  int64_t total() const;
  // "2.1 GiB (calibration activations 2.0 GiB, ...; then the largest phase, quantization: ...)"
  std::string describe() const;
};

// Refuses (slim::Error) when `need` exceeds available_memory_bytes(): the
// message gives the estimate, what is available, and `hint` (the option to
// change, e.g. "lower --nsamples or --seqlen, or use --fp16-activations").
void require_memory(const MemoryNeed& need, const std::string& what, const std::string& hint);

}  // namespace slim
