// Choosing the SIMD target of the packed and dense kernels for the whole run,
// so that one machine can measure the code another CPU would run (e.g. the
// AVX2 kernels on an AVX-512 machine, side by side with an AVX2 llama.cpp).
// Highway dispatches at each call to the best supported target; this narrows
// "supported" once, at startup, before any kernel runs.
#pragma once
#include <string>

namespace slim {

// Restricts dispatch to the Highway target named `name` (case-insensitive, as
// hwy::TargetName spells it: "avx2", "avx3", "avx3_zen4", "neon", ...). An
// empty name restores the default (the best target this CPU supports).
// Throws slim::Error naming the target and the compiled ones this CPU runs
// when `name` is unknown or not runnable here.
void select_cpu_target(const std::string& name);

// select_cpu_target($SLIM_CPU_TARGET) when the variable is set and not empty;
// called once by the slim tool before it parses its command. Throws
// slim::Error when the old name SLIM_KERNEL_TARGET is set (it says to use
// SLIM_CPU_TARGET).
void select_cpu_target_from_env();

}  // namespace slim
