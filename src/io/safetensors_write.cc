// safetensors writer. The output is streamed to a temporary file next to the
// destination and renamed into place, so a crash or a full disk never leaves a
// truncated file under the final name, and a multi-GB model is never copied
// into one big buffer first.
//
// Layout: tensors are stored back to back in the given order, with no gaps.
// The reference implementation (huggingface/safetensors) rejects files whose
// tensors do not exactly tile the data buffer, so padding between tensors for
// alignment would make our files unreadable there. The header is padded with
// spaces so the data buffer starts 8-byte aligned within the file; a tensor is
// therefore aligned for its dtype when the tensors before it add up to a
// multiple of its element size (e.g. put wide dtypes first, as HF does).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "io/safetensors.h"
#include "util/error.h"

namespace slim {

namespace {

// Owns the temporary file until it is renamed into place; on any early exit
// (exception included) it closes and deletes it.
class TempFile {
 public:
  explicit TempFile(const std::string& final_path) {
    std::random_device rd;
    // O_EXCL + a random suffix: two writers of the same path never share a temp file.
    for (int attempt = 0; attempt < 16 && fd_ < 0; ++attempt) {
      path_ = fmt::format("{}.tmp{:08x}", final_path, rd());
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd_ < 0 && errno != EEXIST) break;
    }
    if (fd_ < 0) fail("{}: cannot create temporary file {}: {}", final_path, path_, std::strerror(errno));
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write_all(const std::string& final_path, const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);  // may be partial (Linux caps one call at ~2 GiB)
      if (w < 0) {
        if (errno == EINTR) continue;
        fail("{}: write failed: {}", final_path, std::strerror(errno));
      }
      p += w;
      n -= size_t(w);
    }
  }

  void commit(const std::string& final_path) {
    if (::fsync(fd_) != 0) fail("{}: cannot flush to disk: {}", final_path, std::strerror(errno));
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("{}: cannot close: {}", final_path, std::strerror(errno));
    if (::rename(path_.c_str(), final_path.c_str()) != 0)
      fail("{}: cannot rename from temporary file: {}", final_path, std::strerror(errno));
    committed_ = true;
    // Make the rename itself durable; failure here is not worth failing the
    // write for (the data is complete and in place).
    std::string dir = std::filesystem::path(final_path).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  using ojson = nlohmann::ordered_json;
  ojson header = ojson::object();
  if (!metadata.empty()) {
    ojson m = ojson::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }

  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty()) fail("{}: refusing to write a tensor with an empty name", path);
    if (t.name == "__metadata__") fail("{}: '__metadata__' is reserved, not a tensor name", path);
    if (!seen.insert(t.name).second) fail("{}: duplicate tensor name '{}'", path, t.name);
    uint64_t numel = 1;
    bool overflow = false, has_zero = false;
    for (int64_t d : t.shape) {
      if (d < 0) fail("{}: tensor '{}': negative shape dimension {}", path, t.name, d);
      has_zero |= d == 0;
      overflow |= __builtin_mul_overflow(numel, uint64_t(d), &numel);
    }
    uint64_t nbytes = 0;
    if (has_zero)
      nbytes = 0;
    else if (overflow || __builtin_mul_overflow(numel, uint64_t(dtype_size(t.dtype)), &nbytes))
      fail("{}: tensor '{}': shape overflows the byte count", path, t.name);
    if (nbytes != t.data.size())
      fail("{}: tensor '{}': data has {} bytes, shape and dtype {} need {}", path, t.name,
           t.data.size(), dtype_name(t.dtype), nbytes);
    header[t.name] = ojson{{"dtype", dtype_name(t.dtype)},
                           {"shape", t.shape},
                           {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    // Invalid UTF-8 in a name or metadata string: JSON cannot carry it.
    fail("{}: cannot encode header: {}", path, e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data buffer starts 8-byte aligned
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));

  TempFile tmp(path);
  tmp.write_all(path, len, sizeof len);
  tmp.write_all(path, text.data(), text.size());
  for (const auto& t : tensors) tmp.write_all(path, t.data.data(), t.data.size());
  tmp.commit(path);
}

}  // namespace slim
