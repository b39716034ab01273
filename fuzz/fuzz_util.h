// Shared by the libFuzzer targets: the loaders take paths, so each input is written to a
// file in a private temporary directory first. Expected failures are slim::Error (the
// project's "clear error naming the file"); anything else — another exception type, a
// crash, a sanitizer report — is a finding and aborts the run.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

#include "util/error.h"

namespace slim_fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "slim-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

// Writes the input to scratch_dir()/name and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  std::string path = (scratch_dir() / name).string();
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  return path;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs f; a slim::Error is an accepted refusal, everything else propagates.
template <typename F>
int expect_ok_or_error(F&& f) {
  try {
    f();
  } catch (const slim::Error&) {
  }
  return 0;
}

}  // namespace slim_fuzz
