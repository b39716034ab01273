// Helpers shared by the tests: temporary directories, locating ../shared, and
// tiny generated models.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "error_of.h"
#include "util/error.h"

namespace slim::test {

// Runs f, expecting a slim::Error whose message contains every needle.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no slim::Error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}
template <typename F>  // const char*, not std::string: {"a", "b"} would also make a std::string
void expect_error(F&& f, const char* needle) {
  expect_error(std::forward<F>(f), std::vector<std::string>{needle});
}

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("slim_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The shared data directory ($SLIM_SHARED, else <source>/../shared), or "" when absent.
inline std::string shared_dir() {
  if (const char* s = std::getenv("SLIM_SHARED"))
    if (std::filesystem::is_directory(s)) return s;
#ifdef SLIM_SOURCE_DIR
  std::string p = std::string(SLIM_SOURCE_DIR) + "/../shared";
  if (std::filesystem::is_directory(p + "/data")) return p;
#endif
  return "";
}

// Skips the current test with a clear message when shared data is absent.
#define SLIM_REQUIRE_SHARED(var)                                                      \
  std::string var = ::slim::test::shared_dir();                                       \
  if (var.empty()) GTEST_SKIP() << "shared data not found (set SLIM_SHARED or put it at ../shared)"

}  // namespace slim::test
