// llama2.c tokenizer.bin reader and the encode()/decode() of llama2.c run.c.
//
// File layout (little-endian, no header beyond the first field):
//   int32 max_token_length
//   vocab_size x { float32 score; int32 len; uint8 bytes[len]; }
// The vocabulary size is not stored: it is the model's, so a mismatch can only
// be detected as a file that ends early or has bytes left over.
//
// Encoding reproduces run.c's encode() exactly (the ids must match what the
// reference C program feeds the model), but replaces its O(n^2) rescans and
// bsearch lookups with a hash map and a priority queue over a linked list,
// which picks the same merge at every step: highest score, leftmost on ties.
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/bpe_merge.h"
#include "io/tokenizer.h"
#include "util/error.h"
#include "util/files.h"

namespace slim {
namespace {

constexpr int kBos = 1;
constexpr int kEos = 2;
constexpr int kByteOffset = 3;  // byte b is token b + 3 ("<0xXX>")
// Sanity bound on a single piece: real files have max_token_length < 100.
constexpr int32_t kMaxPieceBytes = 1 << 16;
// run.c starts its best-score search at -1e10: pairs scoring at or below it
// never merge. Kept for exactness.
constexpr float kNoMergeScore = -1e10f;

// Parses "<0xXX>" (exactly six characters, uppercase or lowercase hex).
// Returns the byte value or -1.
int parse_byte_piece(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  int hi = hex(p[3]), lo = hex(p[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Sequential little-endian reader over the file bytes.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool has(size_t n) const { return data_.size() - pos_ >= n; }
  size_t remaining() const { return data_.size() - pos_; }
  template <typename T>
  T read() {
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view bytes(size_t n) {
    auto s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Counts the well-formed records left in `r` (for the "file holds N tokens"
// part of a vocab_size-mismatch message). Returns -1 if the rest is not a
// clean sequence of records.
long count_records(Reader r, int32_t max_len) {
  long n = 0;
  while (r.remaining() > 0) {
    if (!r.has(8)) return -1;
    r.read<float>();
    auto len = r.read<int32_t>();
    if (len < 0 || len > max_len || !r.has(static_cast<size_t>(len))) return -1;
    r.bytes(static_cast<size_t>(len));
    ++n;
  }
  return n;
}

class Llama2cTokenizer final : public Tokenizer {
 public:
  Llama2cTokenizer(const std::string& path, int vocab_size) {
    load(path, vocab_size);
    index();
  }

  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string decode(std::span<const int> ids) const override;
  std::string piece(int id) const override {
    return id >= 0 && id < vocab_size() ? pieces_[id] : std::string();
  }
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return kBos < vocab_size() ? kBos : -1; }
  int eos_id() const override { return kEos < vocab_size() ? kEos : -1; }
  std::string kind() const override { return "llama2c"; }

 private:
  void load(const std::string& path, int vocab_size);
  void index();
  int lookup(std::string_view s) const {
    auto it = lookup_.find(s);
    return it == lookup_.end() ? -1 : it->second;
  }
  void push_bytes(std::string_view s, std::vector<int>& ids) const;
  void merge(std::vector<int>& ids) const;

  std::string path_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string_view, int> lookup_;  // views into pieces_
  std::vector<int16_t> byte_value_;                   // per id: byte or -1
};

void Llama2cTokenizer::load(const std::string& path, int vocab_size) {
  path_ = path;
  SLIM_CHECK(vocab_size > 0, "{}: llama2.c tokenizer needs the model's vocab_size (got {})", path,
             vocab_size);
  const std::string data = read_file(path);
  Reader r(data);
  SLIM_CHECK(r.has(4), "{}: truncated llama2.c tokenizer ({} bytes, no max_token_length)", path,
             data.size());
  const auto max_len = r.read<int32_t>();
  SLIM_CHECK(max_len > 0 && max_len <= kMaxPieceBytes,
             "{}: bad max_token_length {} (not a llama2.c tokenizer.bin?)", path, max_len);
  pieces_.reserve(vocab_size);
  scores_.reserve(vocab_size);
  for (int i = 0; i < vocab_size; ++i) {
    SLIM_CHECK(r.has(8),
               "{}: file ends after {} of {} tokens (truncated, or the model's vocab_size {} is "
               "larger than the tokenizer's)",
               path, i, vocab_size, vocab_size);
    const auto score = r.read<float>();
    const auto len = r.read<int32_t>();
    SLIM_CHECK(len >= 0 && len <= max_len, "{}: token {} has length {} (max_token_length is {})",
               path, i, len, max_len);
    SLIM_CHECK(r.has(static_cast<size_t>(len)),
               "{}: truncated inside token {} ({} bytes needed, {} left)", path, i, len,
               r.remaining());
    scores_.push_back(score);
    pieces_.emplace_back(r.bytes(static_cast<size_t>(len)));
  }
  if (r.remaining() > 0) {
    const long extra = count_records(r, max_len);
    if (extra > 0)
      fail("{}: the file holds {} tokens but the model's vocab_size is {} (vocab_size mismatch)",
           path, vocab_size + extra, vocab_size);
    fail("{}: {} unparseable trailing bytes after {} tokens", path, r.remaining(), vocab_size);
  }
}

void Llama2cTokenizer::index() {
  lookup_.reserve(pieces_.size() * 2);
  byte_value_.assign(pieces_.size(), -1);
  for (size_t i = 0; i < pieces_.size(); ++i) {
    // First id wins for duplicate pieces (real vocabularies have none).
    lookup_.emplace(pieces_[i], static_cast<int>(i));
    byte_value_[i] = static_cast<int16_t>(parse_byte_piece(pieces_[i]));
  }
}

// Byte fallback for a codepoint that is not a piece: one token per byte.
void Llama2cTokenizer::push_bytes(std::string_view s, std::vector<int>& ids) const {
  for (unsigned char b : s) {
    const int id = b + kByteOffset;
    SLIM_CHECK(id < vocab_size(), "{}: no byte-fallback token for byte 0x{:02X} (vocab {})", path_,
               b, vocab_size());
    ids.push_back(id);
  }
}

std::vector<int> Llama2cTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  ids.reserve(text.size() + 2);
  if (add_bos) ids.push_back(kBos);
  // run.c's add_dummy_prefix: SentencePiece prepends a space to non-empty text.
  if (!text.empty()) {
    const int space = lookup(" ");
    if (space >= 0)
      ids.push_back(space);
    else
      push_bytes(" ", ids);
  }
  // Codepoint by codepoint, as run.c: gather a lead byte and up to three
  // continuation bytes (no validation, same as the reference).
  std::string buf;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) buf.clear();
    buf.push_back(static_cast<char>(c));
    const bool next_is_continuation =
        i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
    if (next_is_continuation && buf.size() < 4) continue;
    const int id = lookup(buf);
    if (id >= 0)
      ids.push_back(id);
    else
      push_bytes(buf, ids);
    buf.clear();
  }
  merge(ids);
  return ids;
}

// Repeatedly merges the adjacent pair whose concatenation is a piece with the
// highest score (leftmost on ties), like run.c, in O(n log n) (io/bpe_merge.h).
void Llama2cTokenizer::merge(std::vector<int>& ids) const {
  std::string buf;
  bpe_merge(ids, [&](int l, int r) -> std::optional<BpeMerge> {
    buf.assign(pieces_[l]);
    buf.append(pieces_[r]);
    const int id = lookup(buf);
    if (id < 0 || !(scores_[id] > kNoMergeScore)) return std::nullopt;
    return BpeMerge{double(scores_[id]), id};
  });
}

// Whole-sequence version of run.c's decode(): BOS/EOS are skipped, the
// dummy-prefix space of the first decoded piece is dropped, "<0xXX>" pieces
// become the raw byte.
std::string Llama2cTokenizer::decode(std::span<const int> ids) const {
  std::string out;
  bool first = true;
  for (int id : ids) {
    SLIM_CHECK(id >= 0 && id < vocab_size(), "{}: token id {} out of range (vocab {})", path_, id,
               vocab_size());
    if (id == kBos || id == kEos) continue;
    std::string_view p = pieces_[id];
    if (first && !p.empty() && p[0] == ' ') p.remove_prefix(1);
    first = false;
    if (byte_value_[id] >= 0)
      out.push_back(static_cast<char>(byte_value_[id]));
    else
      out.append(p);
  }
  return out;
}

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::string& path, int vocab_size) {
  return std::make_unique<Llama2cTokenizer>(path, vocab_size);
}

}  // namespace slim
