// Read-only memory mapping of a whole file (RAII). Weights are used in place
// from the mapping; nothing is copied unless it must be converted.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace slim {

class MappedFile {
 public:
  // Maps `path` read-only. Throws slim::Error naming the file on failure.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile() = default;
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Tells the kernel that the mapped pages of [p, p + n) are not needed now (the
// whole pages inside the range): they leave the resident set and are read from
// the file again if touched. Used when a finished block's source weights are
// done with, so the resident set does not grow with depth. [p, p + n) must lie
// in a MappedFile's (read-only) mapping: on anonymous memory this would zero it.
void drop_mapped_pages(const void* p, size_t n);

}  // namespace slim
