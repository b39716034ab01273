// Error handling: every failure at an I/O boundary is an slim::Error whose
// message names the file and the problem. Callers catch it once, in main().
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace slim {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws slim::Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace slim

// Checks an invariant that depends on input data (always on, also in Release).
#define SLIM_CHECK(cond, ...)              \
  do {                                     \
    if (!(cond)) ::slim::fail(__VA_ARGS__); \
  } while (0)
