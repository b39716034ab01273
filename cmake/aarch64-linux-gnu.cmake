# Cross-compiling for aarch64 on Debian (scripts/arm_cross.sh): the
# g++-aarch64-linux-gnu toolchain and the :arm64 -dev packages installed by
# multiarch (libraries in /usr/lib/aarch64-linux-gnu, headers shared in /usr/include).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# find_library / find_package look in <prefix>/lib/aarch64-linux-gnu first.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Programs (pkg-config, bash) are the host's; libraries and configs must be arm64.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# gtest_discover_tests runs the test binary at build time: through qemu.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
