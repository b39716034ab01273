// Resumable quantization. After each block the state needed to continue is
// committed into the output's checkpoint directory (util/files.h,
// OutputDir::Resumable), beside the shards already written there:
//   checkpoint.json        fingerprint, next block, report lines, inputs file
//   bitmap.partial.json    slim: the allocations so far
//   inputs-NNNNN.bin       raw calibration activations entering block NNNNN
//   reference-NNNNN.bin    slim+: the full-precision stream's activations there
// Order of a commit: inputs file (temp + rename), bit map, then
// checkpoint.json (temp + rename) last, then the previous inputs file is
// removed: a kill at any moment leaves the previous or the new checkpoint
// whole, and loses at most the block in progress.
#pragma once
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "quant/bitmap.h"

namespace slim {

struct CheckpointState {
  int next_block = 0;
  int n_blocks = 0;
  nlohmann::json layers = nlohmann::json::array();
  Bitmap bitmap;
  // slim+: the per-block training records of the report (an array), else empty.
  nlohmann::json blocks = nlohmann::json::array();
  struct Stream {
    std::string file;  // empty: none (rtn has no inputs, only slim+ a reference stream)
    int64_t bytes = 0;
    uint64_t hash = 0;
  };
  Stream inputs, reference;
};

class Checkpoint {
 public:
  Checkpoint(std::string dir, nlohmann::json fingerprint);
  // True when the directory holds a committed checkpoint (of any run).
  bool exists() const;
  // The committed state. A checkpoint of another run (model, calibration data
  // or options differ) is refused, naming every differing field.
  CheckpointState load() const;
  // Fills `out` with the committed inputs (or reference stream), checking their size and hash.
  void load_inputs(const CheckpointState& st, std::span<std::byte> out) const;
  void load_reference(const CheckpointState& st, std::span<std::byte> out) const;
  void commit(int next_block, int n_blocks, const nlohmann::json& layers, const Bitmap& bitmap,
              std::span<const std::byte> inputs, std::span<const std::byte> reference = {},
              const nlohmann::json& blocks = nlohmann::json::array());
  // Removes the checkpoint's own files (before the directory is published).
  void remove_files() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  nlohmann::json fingerprint_;
};

// 64-bit hash of bytes (not cryptographic: it detects changes, not attacks).
uint64_t hash_bytes(std::span<const std::byte> b, uint64_t seed = 0);

// Identifies a model cheaply without reading it whole: every file of the
// model (the .bin, or config.json and the safetensors files of a directory)
// by name, size and a hash of its first and last MiB (headers included).
nlohmann::json model_fingerprint(const std::string& model_path);

}  // namespace slim
