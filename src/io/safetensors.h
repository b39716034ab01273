// safetensors container: reading (memory-mapped, fully validated) and writing
// (atomic). Format: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"k": "v"}}, then the data buffer; offsets are relative to
// the start of the data buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "util/mapped_file.h"

namespace slim {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "F32", "BF16", ...
// Parses a safetensors dtype string; returns false when unknown.
bool parse_dtype(const std::string& s, DType* out);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data buffer
  int64_t numel() const;
};

// One .safetensors file. open() validates everything before returning:
// header length within the file, JSON well-formed, every entry has a known
// dtype, a non-negative shape and [begin, end] offsets with begin <= end <=
// data size, byte count == numel * dtype size (overflow-checked), no two
// tensors overlap. Any violation throws slim::Error naming the file and tensor.
class SafetensorsFile {
 public:
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  // Raw bytes of a tensor (points into the mapping). NOT necessarily aligned
  // for the dtype: the format does not guarantee it, so memcpy or use unaligned
  // loads unless you have checked the address. (Files from write_safetensors
  // start the data buffer 8-aligned and store tensors back to back.)
  std::span<const std::byte> data(const TensorInfo& t) const;
  const std::shared_ptr<const MappedFile>& mapping() const { return file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  const std::byte* data_start_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a model directory: model.safetensors, or the shards listed by
// model.safetensors.index.json ("weight_map": name -> shard file). Validates that
// every name in the index exists in its shard and no name appears twice.
class TensorSet {
 public:
  // `single` (model.safetensors), or the shards listed by `index`
  // (model.safetensors.index.json, the Hugging Face convention).
  static TensorSet open_dir(const std::string& dir, const std::string& single = "model.safetensors",
                            const std::string& index = "model.safetensors.index.json");
  static TensorSet open_file(const std::string& path);

  struct Ref {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  // nullptr file when absent.
  Ref find(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::vector<std::shared_ptr<const SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, Ref> by_name_;
};

// A tensor to write. `data` must hold numel * dtype_size bytes.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};

// Writes a .safetensors file atomically (temp + rename). Tensors are laid out in
// the given order; the header is padded with spaces to a multiple of 8 bytes.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace slim
