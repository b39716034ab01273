// Small filesystem helpers. Every write is atomic: data goes to a temporary
// file in the destination's directory, then rename() publishes it, so an
// interrupted run never leaves a half-written file under the final name.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace slim {

// Reads a whole file into a string. Throws slim::Error naming the file.
std::string read_file(const std::string& path);

// Writes `data` to `path` atomically (temp + fsync + rename).
void write_file_atomic(const std::string& path, std::string_view data);

bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);

// Publishes a finished directory: `tmp_dir` is renamed to `final_dir`
// (replacing a previous `final_dir` if present).
void publish_dir(const std::string& tmp_dir, const std::string& final_dir);

// Builds a directory atomically: `fill` writes into a fresh temporary
// directory next to `final_dir` (".<name>.partial-xxxxxxxx"), which is then
// published as `final_dir`; if `fill` throws, the temporary is removed and the
// error propagates, so an interrupted run never leaves a half-written DIR.
void build_dir_atomic(const std::string& final_dir, const std::function<void(const std::string& tmp_dir)>& fill);

}  // namespace slim
