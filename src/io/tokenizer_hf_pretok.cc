// Pre-tokenizers and the PCRE2 regex wrapper of the Hugging Face
// tokenizer (see tokenizer_hf_internal.h). Split semantics follow the
// `tokenizers` library (SplitDelimiterBehavior) so that regex pre-tokenizers
// of GPT-2 / Llama-3 / Qwen2 cut the text at the same places.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "io/tokenizer_hf_internal.h"
#include "util/error.h"

namespace slim::hf {

// ---------------------------------------------------------------- Regex ----

struct Regex::Impl {
  pcre2_code* code = nullptr;
  std::string pattern, file;
  ~Impl() { pcre2_code_free(code); }
};

namespace {
std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}
}  // namespace

Regex::Regex(const std::string& pattern, const std::string& file)
    : impl_(std::make_unique<Impl>()) {
  impl_->pattern = pattern;
  impl_->file = file;
  // UCP: \s, \w, \d follow Unicode, as Oniguruma (used by `tokenizers`) does.
  uint32_t options = PCRE2_UTF | PCRE2_UCP;
#ifdef PCRE2_MATCH_INVALID_UTF
  options |= PCRE2_MATCH_INVALID_UTF;  // user text may hold stray bytes
#endif
  int err = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                              &err, &offset, nullptr);
  if (!impl_->code)
    fail("{}: pre-tokenizer regex /{}/ does not compile (offset {}): {}", file, pattern, offset,
         pcre2_message(err));
  // Best effort: without JIT, pcre2_match falls back to the interpreter.
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view s) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(impl_->code, nullptr), &pcre2_match_data_free);
  SLIM_CHECK(md != nullptr, "{}: out of memory for regex match data", impl_->file);
  std::vector<std::pair<size_t, size_t>> out;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t start = 0;
  while (start <= s.size()) {
    const int rc = pcre2_match(impl_->code, subject, s.size(), start, 0, md.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0)
      fail("{}: pre-tokenizer regex /{}/ failed: {}", impl_->file, impl_->pattern,
           pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    if (ov[1] > ov[0]) {
      out.emplace_back(ov[0], ov[1]);
      start = ov[1];
    } else {
      // Empty match: tokenizers drops empty splits; step over one character.
      start = ov[0] + 1;
      while (start < s.size() && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) ++start;
    }
  }
  return out;
}

// ------------------------------------------------------------- helpers ----

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(s);
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out.append(s.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(s.substr(pos));
  return out;
}

namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {  // bytes_to_unicode never goes past U+0143; BMP is enough
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::vector<std::pair<size_t, size_t>> find_literal(std::string_view s, std::string_view lit) {
  std::vector<std::pair<size_t, size_t>> out;
  if (lit.empty()) return out;
  for (size_t hit = s.find(lit); hit != std::string_view::npos; hit = s.find(lit, hit + lit.size()))
    out.emplace_back(hit, hit + lit.size());
  return out;
}

struct Span {
  size_t begin, end;
  bool match;
};

// Matches + the gaps between them, covering the whole string in order.
std::vector<Span> cover(size_t len, const std::vector<std::pair<size_t, size_t>>& matches,
                        bool invert) {
  std::vector<Span> spans;
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev < b) spans.push_back({prev, b, invert});
    spans.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < len) spans.push_back({prev, len, invert});
  return spans;
}

// tokenizers' NormalizedString::split: how delimiters (matches) attach.
std::vector<Span> apply_behavior(std::vector<Span> spans, SplitBehavior behavior) {
  std::vector<Span> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      return spans;
    case SplitBehavior::kRemoved:
      std::erase_if(spans, [](const Span& s) { return s.match; });
      return spans;
    case SplitBehavior::kMergedWithPrevious:
      for (const Span& s : spans) {
        if (s.match && !previous_match && !out.empty())
          out.back().end = s.end;
        else
          out.push_back(s);
        previous_match = s.match;
      }
      return out;
    case SplitBehavior::kMergedWithNext:
      // A delimiter joins the piece after it, unless that piece is itself a
      // delimiter (then it stands alone): "▁▁a" -> "▁", "▁a".
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !previous_match && !out.empty())
          out.back().begin = it->begin;
        else
          out.push_back(*it);
        previous_match = it->match;
      }
      std::reverse(out.begin(), out.end());
      return out;
    case SplitBehavior::kContiguous:
      for (const Span& s : spans) {
        if (s.match && previous_match && !out.empty())
          out.back().end = s.end;
        else
          out.push_back(s);
        previous_match = s.match;
      }
      return out;
  }
  return spans;
}

void split_piece(const Piece& p, const std::vector<std::pair<size_t, size_t>>& matches,
                 SplitBehavior behavior, bool invert, std::vector<Piece>& out) {
  for (const Span& s : apply_behavior(cover(p.text.size(), matches, invert), behavior))
    if (s.end > s.begin)
      out.push_back({p.text.substr(s.begin, s.end - s.begin), p.at_start && s.begin == 0});
}

void run_step(const SplitStep& step, Piece p, std::vector<Piece>& out) {
  const auto matches =
      step.regex ? step.regex->find_all(p.text) : find_literal(p.text, step.literal);
  split_piece(p, matches, step.behavior, step.invert, out);
}

// Metaspace: spaces become '▁', a '▁' is prepended per the scheme (never
// doubled), and the text is cut before every '▁'.
void run_step(const MetaspaceStep& step, Piece p, std::vector<Piece>& out) {
  const std::string& rep = step.replacement;
  p.text = replace_all(p.text, " ", rep);
  const bool starts = p.text.compare(0, rep.size(), rep) == 0;
  const bool prepend = step.prepend == MetaspaceStep::Prepend::kAlways ||
                       (step.prepend == MetaspaceStep::Prepend::kFirst && p.at_start);
  if (prepend && !starts) p.text.insert(0, rep);
  if (!step.split) {
    out.push_back(std::move(p));
    return;
  }
  split_piece(p, find_literal(p.text, rep), SplitBehavior::kMergedWithNext, false, out);
}

void run_step(const ByteLevelStep& step, Piece p, std::vector<Piece>& out) {
  if (step.add_prefix_space && (p.text.empty() || p.text[0] != ' '))
    p.text.insert(p.text.begin(), ' ');
  std::vector<Piece> parts;
  if (step.regex)
    split_piece(p, step.regex->find_all(p.text), SplitBehavior::kIsolated, false, parts);
  else
    parts.push_back(std::move(p));
  const auto& table = byte_to_unicode();
  for (Piece& part : parts) {
    std::string mapped;
    mapped.reserve(part.text.size() * 2);
    for (unsigned char b : part.text) mapped += table[b];
    out.push_back({std::move(mapped), part.at_start});
  }
}

}  // namespace

// ---------------------------------------------------------- pipelines ----

std::vector<Piece> pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::string text,
                                bool at_start) {
  std::vector<Piece> pieces;
  if (text.empty()) return pieces;
  pieces.push_back({std::move(text), at_start});
  for (const auto& step : steps) {
    std::vector<Piece> next;
    next.reserve(pieces.size());
    for (Piece& p : pieces)
      std::visit([&](const auto& s) { run_step(s, std::move(p), next); }, step);
    pieces.swap(next);
  }
  return pieces;
}

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the
// other 68 bytes to U+0100.. in byte order, so every byte is a visible char.
const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) t[b] = utf8(printable(b) ? static_cast<uint32_t>(b) : next++);
    return t;
  }();
  return table;
}

const std::unordered_map<std::string, unsigned char, StringHash, std::equal_to<>>&
unicode_to_byte() {
  static const auto inverse = [] {
    std::unordered_map<std::string, unsigned char, StringHash, std::equal_to<>> m;
    const auto& t = byte_to_unicode();
    for (int b = 0; b < 256; ++b) m.emplace(t[b], static_cast<unsigned char>(b));
    return m;
  }();
  return inverse;
}

}  // namespace slim::hf
