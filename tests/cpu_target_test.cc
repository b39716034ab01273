// SLIM_CPU_TARGET / select_cpu_target: the named target is the one the packed
// kernels dispatch to; unknown names fail with the name and the choices.
#include "pack/cpu_target.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cctype>
#include <cstdlib>
#include <string>

#include "pack/packed_kernels.h"
#include "pack/packed_linear.h"
#include "util/error.h"

namespace slim {
namespace {

TEST(CpuTarget, SelectsEveryRunnableTargetByNameAnyCase) {
  const auto targets = pack_detail::compiled_targets();
  ASSERT_FALSE(targets.empty());
  const std::string best = packed_kernel_target();
  for (int64_t t : targets) {
    std::string name = hwy::TargetName(t);
    for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    select_cpu_target(name);
    EXPECT_STREQ(packed_kernel_target(), hwy::TargetName(t));
  }
  select_cpu_target("");
  EXPECT_EQ(packed_kernel_target(), best);
}

TEST(CpuTarget, UnknownTargetNamesItAndTheChoices) {
  const std::string best = packed_kernel_target();
  try {
    select_cpu_target("avx9000");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'avx9000'"), std::string::npos) << msg;
    std::string first = hwy::TargetName(pack_detail::compiled_targets().front());
    for (auto& c : first) c = char(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_NE(msg.find(first), std::string::npos) << msg;
  }
  EXPECT_EQ(packed_kernel_target(), best);  // dispatch unchanged by the failed call
  const int64_t worst = pack_detail::compiled_targets().back();
  select_cpu_target(hwy::TargetName(worst));
  EXPECT_THROW(select_cpu_target("avx9000"), Error);
  EXPECT_STREQ(packed_kernel_target(), hwy::TargetName(worst));  // an earlier choice survives a refused one
  select_cpu_target("");
}

TEST(CpuTarget, ReadsTheEnvironment) {
  const auto targets = pack_detail::compiled_targets();
  const int64_t worst = targets.back();  // the list runs best first; the last differs from the default
  ::setenv("SLIM_CPU_TARGET", hwy::TargetName(worst), 1);
  select_cpu_target_from_env();
  EXPECT_STREQ(packed_kernel_target(), hwy::TargetName(worst));
  ::setenv("SLIM_CPU_TARGET", "nonsense", 1);
  EXPECT_THROW(select_cpu_target_from_env(), Error);
  ::unsetenv("SLIM_CPU_TARGET");
  select_cpu_target("");
}

TEST(CpuTarget, OldVariableNameIsAClearError) {
  ::setenv("SLIM_KERNEL_TARGET", "avx2", 1);
  try {
    select_cpu_target_from_env();
    ADD_FAILURE() << "SLIM_KERNEL_TARGET was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use SLIM_CPU_TARGET=avx2"), std::string::npos) << e.what();
  }
  ::unsetenv("SLIM_KERNEL_TARGET");
  EXPECT_STREQ(packed_kernel_target(), hwy::TargetName(pack_detail::compiled_targets().front()));
}

}  // namespace
}  // namespace slim
