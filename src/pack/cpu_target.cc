#include "pack/cpu_target.h"

#include <hwy/targets.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "pack/packed_kernels.h"
#include "util/error.h"

namespace slim {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

void select_cpu_target(const std::string& name) {
  if (name.empty()) {
    hwy::SetSupportedTargetsForTest(0);
    return;
  }
  // Compiled here and supported by this CPU: the only targets dispatch can
  // take. Listed with any earlier choice lifted (it narrows the list too), and
  // that choice put back if `name` is refused.
  const int64_t before = hwy::SupportedTargets();
  hwy::SetSupportedTargetsForTest(0);
  const std::vector<int64_t> targets = pack_detail::compiled_targets();
  std::string known;
  for (int64_t t : targets) {
    const std::string n = lower(hwy::TargetName(t));
    if (n == lower(name)) {
      hwy::SetSupportedTargetsForTest(t);
      return;
    }
    known += (known.empty() ? "" : ", ") + n;
  }
  hwy::SetSupportedTargetsForTest(before);
  fail("SIMD target '{}' is not one this build and CPU can run (choose one of: {})", name, known);
}

void select_cpu_target_from_env() {
  // SLIM_KERNEL_TARGET was an earlier name for the same choice (x86 only). A
  // run that still sets it would silently measure the default target, so it
  // is refused rather than ignored.
  if (const char* old = std::getenv("SLIM_KERNEL_TARGET"); old && *old)
    fail("environment variable SLIM_KERNEL_TARGET='{}' is no longer read: use SLIM_CPU_TARGET={} instead", old, old);
  if (const char* e = std::getenv("SLIM_CPU_TARGET"); e && *e) {
    try {
      select_cpu_target(e);
    } catch (const Error& err) {
      fail("SLIM_CPU_TARGET: {}", err.what());
    }
  }
}

}  // namespace slim
