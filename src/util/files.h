// Small filesystem helpers. Every write is atomic: data goes to a temporary
// file in the destination's directory, then rename() publishes it, so an
// interrupted run never leaves a half-written file under the final name.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace slim {

// Reads a whole file into a string. Throws slim::Error naming the file.
std::string read_file(const std::string& path);

// Writes `data` to `path` atomically (temp + fsync + rename).
void write_file_atomic(const std::string& path, std::string_view data);

bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);

// Publishes a finished directory: `tmp_dir` is renamed to `final_dir`,
// replacing a previous `final_dir` (moved aside under a hidden name first, and
// put back if the rename fails).
void publish_dir(const std::string& tmp_dir, const std::string& final_dir);

// An output directory built atomically (slim quantize/pack --out DIR). The
// constructor runs before any long work and refuses what would lose data:
//   - DIR exists and is not a directory (a file is never replaced);
//   - DIR is a non-empty directory slim did not write (no kOutputMarker and no
//     quant_report.json, the file every earlier slim output holds);
//   - DIR is, or contains, one of `inputs` (the source model, tokenizer...).
// Only an empty or absent DIR, or one slim produced, may be replaced. It then
// removes temporaries left by killed runs (".DIR.partial-PID-..." whose PID is
// gone) and creates its own temporary next to DIR, so an unwritable parent is
// reported up front. publish() renames the temporary to DIR; the destructor
// removes an unpublished temporary.
class OutputDir {
 public:
  OutputDir(const std::string& final_dir, const std::vector<std::string>& inputs = {});
  // Resumable: the temporary has a fixed name, ".DIR.checkpoint" (found again
  // by a later run, never removed as stale), is reused when it exists, and
  // survives this object once keep() was called (a checkpoint is in it).
  struct Resumable {};
  OutputDir(const std::string& final_dir, const std::vector<std::string>& inputs, Resumable);
  ~OutputDir();
  void keep() { keep_ = true; }
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;
  const std::string& tmp() const { return tmp_; }
  const std::string& final_dir() const { return final_; }
  void publish();

 private:
  OutputDir(const std::string& final_dir, const std::vector<std::string>& inputs, bool resumable);
  std::string final_, tmp_;
  bool published_ = false, keep_ = false;
};

// Marks a directory as written by slim (so a later run may replace it).
inline constexpr const char* kOutputMarker = ".slim-output";

// OutputDir(final_dir, inputs), `fill` writes into tmp(), then publish(); if
// `fill` throws, the temporary is removed and the error propagates.
void build_dir_atomic(const std::string& final_dir, const std::function<void(const std::string& tmp_dir)>& fill,
                      const std::vector<std::string>& inputs = {});

}  // namespace slim
