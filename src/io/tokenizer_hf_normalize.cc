// The normalizers of the Hugging Face tokenizer (see tokenizer_hf_internal.h):
// Prepend, Replace, the four Unicode normalization forms and Lowercase. The
// Unicode tables are utf8proc's; tokenizers uses Rust's unicode-normalization,
// which implements the same UAX #15 algorithm (results can differ only on code
// points assigned in a Unicode version one of the two does not know yet).
#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "io/tokenizer_hf_internal.h"
#include "util/error.h"

namespace slim::hf {
namespace {

const auto* bytes(std::string_view s) { return reinterpret_cast<const utf8proc_uint8_t*>(s.data()); }

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

utf8proc_option_t options(UnicodeForm form) {
  const int compat = form == UnicodeForm::kNFKC || form == UnicodeForm::kNFKD ? UTF8PROC_COMPAT : 0;
  const int compose = form == UnicodeForm::kNFC || form == UnicodeForm::kNFKC ? UTF8PROC_COMPOSE
                                                                              : UTF8PROC_DECOMPOSE;
  return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | compat | compose);
}

// One stretch of valid UTF-8 in `form`, appended to `out`.
void normalize_valid(std::string_view s, utf8proc_option_t opt, std::string& out) {
  if (s.empty()) return;
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(bytes(s), static_cast<utf8proc_ssize_t>(s.size()), &dst, opt);
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(dst, &std::free);
  // The stretch was checked to be valid, so only an allocation failure is left.
  SLIM_CHECK(n >= 0, "Unicode normalization failed: {}", utf8proc_errmsg(n));
  out.append(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
}

void append_utf8(int32_t cp, std::string& out) {
  utf8proc_uint8_t buf[4];
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(utf8proc_encode_char(cp, buf)));
}

}  // namespace

int32_t char_at(std::string_view s, size_t i, size_t* len) {
  utf8proc_int32_t cp = -1;
  const utf8proc_ssize_t n =
      utf8proc_iterate(bytes(s) + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  if (n <= 0 || cp < 0) {
    *len = 1;
    return -1;
  }
  *len = static_cast<size_t>(n);
  return cp;
}

int32_t char_before(std::string_view s, size_t end, size_t* len) {
  // A UTF-8 character is at most 4 bytes: try each start that could end at `end`.
  for (size_t n = 1; n <= 4 && n <= end; ++n) {
    if ((static_cast<unsigned char>(s[end - n]) & 0xC0) == 0x80) continue;  // continuation byte
    size_t got = 0;
    const int32_t cp = char_at(s, end - n, &got);
    if (cp >= 0 && got == n) {
      *len = n;
      return cp;
    }
    break;
  }
  *len = 1;
  return -1;
}

std::string unicode_normalize(std::string_view text, UnicodeForm form) {
  if (is_ascii(text)) return std::string(text);  // every form leaves ASCII as it is
  const utf8proc_option_t opt = options(form);
  std::string out;
  out.reserve(text.size());
  size_t valid_from = 0;
  for (size_t i = 0; i < text.size();) {
    size_t n = 0;
    if (char_at(text, i, &n) >= 0) {
      i += n;
      continue;
    }
    normalize_valid(text.substr(valid_from, i - valid_from), opt, out);
    out += text[i];  // the stray byte, untouched
    valid_from = ++i;
  }
  normalize_valid(text.substr(valid_from), opt, out);
  return out;
}

std::string unicode_lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = 0;
    const int32_t cp = char_at(text, i, &n);
    if (cp < 0) {
      out += text[i];
    } else if (cp == 0x130) {
      // U+0130 'İ' is the one code point whose full lowercase (SpecialCasing,
      // unconditional) differs from utf8proc's simple mapping: "i" + U+0307.
      out += "i\xCC\x87";
    } else {
      append_utf8(utf8proc_tolower(cp), out);
    }
    i += n;
  }
  return out;
}

std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view text) {
  std::string s(text);
  for (const auto& step : steps) {
    if (const auto* pre = std::get_if<PrependNorm>(&step)) {
      if (!s.empty()) s.insert(0, pre->prefix);  // tokenizers: only non-empty text
    } else if (const auto* rep = std::get_if<ReplaceNorm>(&step)) {
      s = replace_all(s, rep->from, rep->to);
    } else if (const auto* uni = std::get_if<UnicodeNorm>(&step)) {
      s = unicode_normalize(s, uni->form);
    } else {
      s = unicode_lowercase(s);
    }
  }
  return s;
}

}  // namespace slim::hf
