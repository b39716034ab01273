#include "io/text_prefix.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/error.h"

namespace slim {

namespace {
// Up to `n` bytes from the start of the file, cut back to the last line end
// unless the file ends within them.
std::string read_prefix(const std::string& path, size_t n, bool& whole) {
  std::error_code ec;
  SLIM_CHECK(!std::filesystem::is_directory(path, ec), "{}: is a directory, expected a text file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::string s(n, '\0');
  in.read(s.data(), std::streamsize(n));
  if (in.bad()) fail("{}: read error", path);
  s.resize(size_t(in.gcount()));
  whole = s.size() < n || in.peek() == std::ifstream::traits_type::eof();
  if (!whole) {  // a line end, else a space: never inside a UTF-8 sequence
    size_t cut = s.rfind('\n');
    if (cut == std::string::npos) cut = s.rfind(' ');
    if (cut != std::string::npos) s.resize(cut + 1);
  }
  return s;
}
}  // namespace

TextPrefix encode_text_prefix(const Tokenizer& tok, const std::string& path, size_t need, bool add_bos) {
  size_t bytes = std::max<size_t>(size_t(64) << 10, need * 16);
  std::vector<int> prev;
  for (;;) {
    TextPrefix r;
    const std::string text = read_prefix(path, bytes, r.whole_file);
    SLIM_CHECK(!text.empty() || !r.whole_file, "{}: the text file is empty", path);
    r.bytes_read = int64_t(text.size());
    r.tokens = tok.encode(text, add_bos);
    const bool enough = prev.size() >= need && r.tokens.size() >= need;
    if (r.whole_file || (enough && std::equal(prev.begin(), prev.begin() + long(need), r.tokens.begin()))) {
      if (r.tokens.size() > need) r.tokens.resize(need);
      return r;
    }
    prev = std::move(r.tokens);
    bytes *= 2;
  }
}

}  // namespace slim
