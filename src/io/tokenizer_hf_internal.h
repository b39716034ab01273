// Internals of the Hugging Face tokenizer.json BPE tokenizer, shared by
// tokenizer_hf.cc (JSON -> pipeline, encode/decode), tokenizer_hf_added.cc
// (added tokens), tokenizer_hf_normalize.cc (normalizers, utf8proc),
// tokenizer_hf_pretok.cc (pre-tokenizers, PCRE2) and tokenizer_hf_bpe.cc (the
// BPE model). Not part of the public API: include only from tokenizer_hf*.cc.
//
// The pipeline mirrors the `tokenizers` library for what LLM checkpoints use:
//   text -> split out added tokens, normalizing the text between them
//   (tokenizer_hf_added.h) -> per remaining segment: pre-tokenizer steps ->
//   (byte-level: bytes to GPT-2 unicode chars) -> BPE.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace slim {
class Tokenizer;
}

namespace slim::hf {

// The tokenizer.json pipeline over a document built in memory (vocab.json +
// merges.txt become one, tokenizer_gpt2_files.cc); `path` names it in errors.
// BOS (-1: encode adds none) and EOS are the caller's, not read beside `path`.
std::unique_ptr<Tokenizer> make_tokenizer(const nlohmann::json& tokenizer_json, const std::string& path,
                                          int bos, int eos);

// Transparent hash so maps keyed by std::string accept string_view lookups.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringMap = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

// A compiled PCRE2 pattern (UTF-8, Unicode properties for \p{L}/\s, JIT when
// available; invalid UTF-8 in the subject is tolerated, never matched).
class Regex {
 public:
  // `file` only names the tokenizer in the error for a bad pattern.
  Regex(const std::string& pattern, const std::string& file);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-empty matches of the pattern in `s`, left to right, as [begin, end).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The pretokenizer's Split / Regex "behavior" names.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A pre-token; `at_start` marks the one that begins at offset 0 of the input
// text (Metaspace prepend_scheme "first" prepends only there).
struct Piece {
  std::string text;
  bool at_start = false;
};

struct SplitStep {
  std::shared_ptr<const Regex> regex;  // null: split on `literal`
  std::string literal;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
};
struct MetaspaceStep {
  enum class Prepend { kAlways, kFirst, kNever };
  std::string replacement = "\xE2\x96\x81";  // U+2581 '▁'
  Prepend prepend = Prepend::kAlways;
  bool split = true;
};
// Always the last step: optional prefix space, optional GPT-2 regex split,
// then every byte becomes its bytes_to_unicode character.
struct ByteLevelStep {
  bool add_prefix_space = false;
  std::shared_ptr<const Regex> regex;  // null when use_regex is false
};
using PreTokenizerStep = std::variant<SplitStep, MetaspaceStep, ByteLevelStep>;

// Runs the steps over one normalized segment; empty pieces are dropped.
std::vector<Piece> pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::string text,
                                bool at_start);

// Normalizer steps (tokenizer_hf_normalize.cc), applied in order as tokenizers'
// Sequence normalizer does.
struct PrependNorm {
  std::string prefix;
};
struct ReplaceNorm {
  std::string from, to;
};
enum class UnicodeForm { kNFC, kNFD, kNFKC, kNFKD };
struct UnicodeNorm {
  UnicodeForm form;
};
struct LowercaseNorm {};
using NormalizerStep = std::variant<PrependNorm, ReplaceNorm, UnicodeNorm, LowercaseNorm>;
std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view text);

// `text` in a Unicode normalization form (utf8proc). Bytes that are not valid
// UTF-8 (tokenizers never sees them: Rust strings are valid) are kept as they
// are; the valid stretches between them are normalized each on its own.
std::string unicode_normalize(std::string_view text, UnicodeForm form);
// tokenizers' Lowercase: Rust's char::to_lowercase on every code point.
std::string unicode_lowercase(std::string_view text);

// The code point of the UTF-8 character that starts at s[i] (its length in
// *len), or -1 with *len = 1 for a byte that does not start a valid one.
int32_t char_at(std::string_view s, size_t i, size_t* len);
// The code point of the valid UTF-8 character that ends just before s[end]
// (its length in *len), or -1 with *len = 1.
int32_t char_before(std::string_view s, size_t end, size_t* len);
// Unicode White_Space: Rust's char::is_whitespace and regex \s.
bool is_white_space(int32_t cp);
// Rust regex's Unicode \w (Alphabetic, marks, decimal digits, connector
// punctuation, joiners): what tokenizers' single_word looks at.
bool is_word_char(int32_t cp);

// Length of the UTF-8 character starting at s[i]; 1 for a stray byte.
inline size_t utf8_char_len(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xE  ? 3
                   : (c >> 3) == 0x1E ? 4
                                      : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  return n;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to);

// GPT-2 bytes_to_unicode(): byte -> UTF-8 of its printable stand-in character.
const std::array<std::string, 256>& byte_to_unicode();
// Inverse map as a UTF-8 string -> byte (256 entries).
const std::unordered_map<std::string, unsigned char, StringHash, std::equal_to<>>&
unicode_to_byte();

// Byte-pair encoding over a vocabulary with ranked merges.
class Bpe {
 public:
  struct Options {
    bool byte_fallback = false;  // unknown chars -> "<0xXX>" tokens
    bool ignore_merges = false;  // a pre-token that is a vocab entry is emitted whole
    bool fuse_unk = false;       // consecutive unknowns -> one unk token
    int unk_id = -1;             // -1: unknown chars are dropped (as tokenizers does)
  };

  Bpe(StringMap vocab, Options opt);
  // Registers merge `left right` with the next rank. Returns false when a part
  // or the result is not in the vocabulary.
  bool add_merge(std::string_view left, std::string_view right);
  int id(std::string_view piece) const {
    auto it = vocab_.find(piece);
    return it == vocab_.end() ? -1 : it->second;
  }
  const StringMap& vocab() const { return vocab_; }

  // Appends the ids of one pre-token.
  void encode_word(std::string_view word, std::vector<int>& out) const;

 private:
  struct Merge {
    int rank, merged_id;
  };
  static uint64_t key(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void initial_symbols(std::string_view word, std::vector<int>& ids) const;
  void apply_merges(std::vector<int>& ids) const;

  StringMap vocab_;
  Options opt_;
  std::array<int, 256> byte_ids_{};             // "<0xXX>" ids, -1 when absent
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> merge
  int next_rank_ = 0;
};

}  // namespace slim::hf
