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
//
// Several ranks (dist/comm.h): each rank writes its own windows' part,
// inputs-NNNNN.rank-R-of-N.bin (and reference-...), into the checkpoint
// directory at the same path on its host (write_part: temp, fsync, rename);
// rank 0 commits checkpoint.json, listing every part with its size and hash,
// only once every rank's part is durable (the part descriptors are gathered
// after the fsyncs); after the commit each rank removes its older parts
// (remove_old_parts). A resume with the same N reads each rank's own part;
// another N is refused by the fingerprint.
#pragma once
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

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
    // Several ranks: one {"file", "bytes", "hash"} per rank, in rank order (file empty then).
    nlohmann::json parts;
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
  // Several ranks: `parts_inputs` / `parts_reference` are every rank's
  // write_part results in rank order (an empty array: no such stream).
  void commit_parts(int next_block, int n_blocks, const nlohmann::json& layers, const Bitmap& bitmap,
                    const nlohmann::json& parts_inputs, const nlohmann::json& parts_reference,
                    const nlohmann::json& blocks = nlohmann::json::array());
  // Removes the checkpoint's own files (before the directory is published).
  void remove_files() const;

  // This rank's part of a stream ("inputs" or "reference") entering block
  // next_block, written atomically and durably into `dir` (created if
  // missing); returns its {"file", "bytes", "hash"}.
  static nlohmann::json write_part(const std::string& dir, const char* stream, int next_block, int rank, int ranks,
                                   std::span<const std::byte> bytes);
  // Fills `out` with rank `rank`'s part of a committed stream (its entry of
  // Stream::parts), checking name, size and hash.
  static void load_part(const std::string& dir, const nlohmann::json& parts, int rank, const char* what,
                        std::span<std::byte> out);
  // Removes this rank's parts other than `keep` (file names) from `dir`.
  static void remove_old_parts(const std::string& dir, int rank, int ranks, const std::vector<std::string>& keep);
  const std::string& dir() const { return dir_; }

 private:
  void write_manifest(int next_block, int n_blocks, const nlohmann::json& layers, const Bitmap& bitmap,
                      const nlohmann::json& in, const nlohmann::json& ref, const nlohmann::json& blocks) const;
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
