#include "util/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "util/error.h"

namespace slim {
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("{}: read error", path);
  return s;
}

void write_file_atomic(const std::string& path, std::string_view data) {
  std::random_device rd;
  std::string tmp = fmt::format("{}.tmp{:08x}", path, rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot create: {}", tmp, std::strerror(errno));
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("{}: write failed: {}", path, std::strerror(e));
    }
    p += w;
    left -= size_t(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail("{}: cannot flush to disk", path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail("{}: cannot rename from temporary file: {}", path, std::strerror(e));
  }
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool dir_exists(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

void build_dir_atomic(const std::string& final_dir, const std::function<void(const std::string& tmp_dir)>& fill) {
  const fs::path dst = fs::absolute(final_dir);
  std::random_device rd;
  const fs::path tmp = dst.parent_path() / fmt::format(".{}.partial-{:08x}", dst.filename().string(), rd());
  fs::create_directories(tmp);
  try {
    fill(tmp.string());
    publish_dir(tmp.string(), dst.string());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

void publish_dir(const std::string& tmp_dir, const std::string& final_dir) {
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    std::string old = final_dir + ".old";
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    if (ec) fail("{}: cannot move the previous output aside: {}", final_dir, ec.message());
  }
  fs::rename(tmp_dir, final_dir, ec);
  if (ec) fail("{}: cannot publish from {}: {}", final_dir, tmp_dir, ec.message());
  fs::remove_all(final_dir + ".old", ec);
}

}  // namespace slim
