#include "util/files.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "util/error.h"

namespace slim {
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::error_code ec;
  SLIM_CHECK(!fs::is_directory(path, ec), "{}: is a directory, expected a file", path);
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

namespace {

// ".NAME.partial-" : the prefix of every temporary built for NAME.
std::string partial_prefix(const fs::path& dst) { return "." + dst.filename().string() + ".partial-"; }

// Removes ".NAME.partial-PID-RAND" directories whose process is gone (a
// SIGKILL'd run cannot clean up after itself). Older names without a PID
// (".NAME.partial-RAND") are removed once they are an hour old.
void remove_stale_partials(const fs::path& dst) {
  std::error_code ec;
  const std::string partial = partial_prefix(dst), old = "." + dst.filename().string() + ".old-";
  for (const auto& e : fs::directory_iterator(dst.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    const std::string& prefix = name.rfind(partial, 0) == 0 ? partial : old;
    if (name.rfind(prefix, 0) != 0 || !e.is_directory(ec)) continue;
    const std::string rest = name.substr(prefix.size());
    const size_t dash = rest.find('-');
    bool stale = false;
    if (dash != std::string::npos && dash > 0 && rest.find_first_not_of("0123456789") == dash) {
      const long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
      stale = pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
    } else if (&prefix == &partial) {
      const auto age = fs::file_time_type::clock::now() - fs::last_write_time(e.path(), ec);
      stale = !ec && age > std::chrono::hours(1);
    }
    if (stale) fs::remove_all(e.path(), ec);
  }
}

bool is_slim_output(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / kOutputMarker, ec) || fs::exists(dir / "quant_report.json", ec);
}

// Refuses a DIR whose replacement would lose data (see OutputDir).
void check_replaceable(const fs::path& dst, const std::vector<std::string>& inputs) {
  std::error_code ec;
  for (const std::string& in : inputs) {
    if (in.empty() || !fs::exists(in, ec)) continue;
    const fs::path p = fs::weakly_canonical(in, ec);
    const auto rel = p.lexically_relative(dst);
    SLIM_CHECK(rel.empty() || *rel.begin() == "..",
               "--out {}: this would replace the input {}; choose another output directory", dst.string(), in);
  }
  const auto st = fs::symlink_status(dst, ec);
  if (!fs::exists(st)) return;
  SLIM_CHECK(fs::is_directory(fs::status(dst, ec)),
             "--out {}: exists and is not a directory; slim never replaces a file, choose another name",
             dst.string());
  if (fs::is_empty(dst, ec) || is_slim_output(dst)) return;
  fail("--out {}: the directory is not empty and was not written by slim (no {} or quant_report.json); "
       "choose another output directory or empty it first",
       dst.string(), kOutputMarker);
}

}  // namespace

OutputDir::OutputDir(const std::string& final_dir, const std::vector<std::string>& inputs)
    : OutputDir(final_dir, inputs, false) {}

OutputDir::OutputDir(const std::string& final_dir, const std::vector<std::string>& inputs, Resumable)
    : OutputDir(final_dir, inputs, true) {}

OutputDir::OutputDir(const std::string& final_dir, const std::vector<std::string>& inputs, bool resumable) {
  SLIM_CHECK(!final_dir.empty(), "--out DIR is required");
  std::error_code ec;
  const fs::path dst = fs::weakly_canonical(fs::absolute(final_dir), ec);
  SLIM_CHECK(!ec && !dst.filename().empty(), "--out {}: not a usable directory name", final_dir);
  check_replaceable(dst, inputs);
  final_ = dst.string();
  if (fs::exists(dst.parent_path(), ec)) remove_stale_partials(dst);
  fs::path tmp;
  if (resumable) {
    tmp = dst.parent_path() / ("." + dst.filename().string() + ".checkpoint");
    // An earlier run's: reused, and never removed by this one unless published.
    keep_ = fs::exists(tmp, ec);
    SLIM_CHECK(!keep_ || fs::is_empty(tmp, ec) || fs::exists(tmp / kOutputMarker, ec),
               "--out {}: {} exists and was not written by slim; move it away", final_dir, tmp.string());
  } else {
    std::random_device rd;
    tmp = dst.parent_path() / fmt::format("{}{}-{:08x}", partial_prefix(dst), ::getpid(), rd());
  }
  fs::create_directories(tmp, ec);
  if (ec) fail("--out {}: cannot create a directory next to it ({}): {}", final_dir, tmp.string(), ec.message());
  tmp_ = tmp.string();
  write_file_atomic((tmp / kOutputMarker).string(), fmt::format("written by slim {}\n", SLIM_VERSION));
}

OutputDir::~OutputDir() {
  if (published_ || keep_ || tmp_.empty()) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void OutputDir::publish() {
  // Checked again: another process may have put something there meanwhile.
  check_replaceable(final_, {});
  publish_dir(tmp_, final_);
  published_ = true;
}

void build_dir_atomic(const std::string& final_dir, const std::function<void(const std::string& tmp_dir)>& fill,
                      const std::vector<std::string>& inputs) {
  OutputDir out(final_dir, inputs);
  fill(out.tmp());
  out.publish();
}

void publish_dir(const std::string& tmp_dir, const std::string& final_dir) {
  std::error_code ec;
  // The previous output goes aside under a hidden name of our own (never a
  // user's "DIR.old"), and is removed once the new one is in place.
  std::string old;
  if (fs::exists(final_dir, ec)) {
    std::random_device rd;
    const fs::path dst(final_dir);
    old = (dst.parent_path() / fmt::format(".{}.old-{}-{:08x}", dst.filename().string(), ::getpid(), rd())).string();
    fs::rename(final_dir, old, ec);
    if (ec) fail("{}: cannot move the previous output aside: {}", final_dir, ec.message());
  }
  fs::rename(tmp_dir, final_dir, ec);
  if (ec) {
    const std::string msg = ec.message();
    if (!old.empty()) fs::rename(old, final_dir, ec);  // put the previous output back
    fail("{}: cannot publish from {}: {}", final_dir, tmp_dir, msg);
  }
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace slim
