// Cutting added tokens out of the input text as tokenizers does; the order of
// the three steps is explained in tokenizer_hf_added.h.
#include "io/tokenizer_hf_added.h"

#include <utf8proc.h>

#include <algorithm>

namespace slim::hf {

bool is_white_space(int32_t cp) {
  // The White_Space property (PropList.txt); it has not changed since Unicode 6.
  switch (cp) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x2000 && cp <= 0x200A);
  }
}

bool is_word_char(int32_t cp) {
  if (cp < 0) return false;
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
                        (cp >= 'A' && cp <= 'Z') || cp == '_';
  if (cp == 0x200C || cp == 0x200D) return true;  // Join_Control
  // Alphabetic code points outside the letter categories (Other_Alphabetic
  // symbols: circled, squared and negative Latin letters).
  if ((cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
      (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189))
    return true;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

namespace {

bool word_before(std::string_view s, size_t end) {
  size_t n = 0;
  return end > 0 && is_word_char(char_before(s, end, &n));
}
bool word_at(std::string_view s, size_t i) {
  size_t n = 0;
  return i < s.size() && is_word_char(char_at(s, i, &n));
}

}  // namespace

void AddedVocab::build(Matcher& m) {
  for (size_t i = 0; i < m.patterns.size(); ++i) {
    if (m.patterns[i].empty()) continue;
    m.by_first_byte[static_cast<unsigned char>(m.patterns[i][0])].push_back(static_cast<int>(i));
    m.empty = false;
  }
  for (auto& v : m.by_first_byte)
    std::stable_sort(v.begin(), v.end(),
                     [&](int a, int b) { return m.patterns[a].size() > m.patterns[b].size(); });
}

void AddedVocab::finish(const std::vector<NormalizerStep>& normalizer) {
  raw_.patterns.assign(tokens_.size(), std::string());
  normalized_.patterns.assign(tokens_.size(), std::string());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    // tokenizers matches a normalized token by its content after the
    // normalizer (a Prepend('▁') normalizer prepends to it too).
    if (t.normalized)
      normalized_.patterns[i] = normalize(normalizer, t.content);
    else
      raw_.patterns[i] = t.content;
  }
  build(raw_);
  build(normalized_);
}

std::vector<AddedVocab::Match> AddedVocab::find(std::string_view text, const Matcher& m) const {
  std::vector<Match> out;
  size_t done = 0;  // end of the last accepted match (lstrip stops there)
  for (size_t i = 0; i < text.size();) {
    int hit = -1;
    for (int k : m.by_first_byte[static_cast<unsigned char>(text[i])])
      if (text.compare(i, m.patterns[k].size(), m.patterns[k]) == 0) {
        hit = k;
        break;
      }
    if (hit < 0) {
      ++i;
      continue;
    }
    const AddedToken& t = tokens_[hit];
    size_t b = i, e = i + m.patterns[hit].size();
    // The search goes on after the match even when single_word drops it: no
    // shorter or overlapping token is tried there (aho-corasick's iteration).
    i = e;
    if (t.single_word && (word_before(text, b) || word_at(text, e))) continue;
    size_t n = 0;
    if (t.lstrip)
      while (b > done && is_white_space(char_before(text, b, &n))) b -= n;
    if (t.rstrip)
      while (e < text.size() && is_white_space(char_at(text, e, &n))) e += n;
    out.push_back({b, e, hit});
    done = i = e;
  }
  return out;
}

template <class Rest>
void AddedVocab::cut(std::string_view text, const Matcher& m, bool at_start,
                     std::vector<Segment>& out, Rest&& rest) const {
  size_t start = 0;
  for (const Match& mt : find(text, m)) {
    if (mt.begin > start) rest(text.substr(start, mt.begin - start), at_start && start == 0);
    out.push_back({std::string(), tokens_[mt.token].id, at_start && mt.begin == 0});
    start = mt.end;
  }
  if (start < text.size()) rest(text.substr(start), at_start && start == 0);
}

std::vector<Segment> AddedVocab::split(std::string_view text,
                                       const std::vector<NormalizerStep>& normalizer) const {
  std::vector<Segment> out;
  auto keep = [&](std::string_view s, bool at_start) {
    out.push_back({std::string(s), -1, at_start});
  };
  // Each stretch between raw-matched tokens is normalized on its own: a
  // Prepend('▁') normalizer adds '▁' after every special token too (Llama-2
  // "legacy" behaviour).
  auto normalize_then_match = [&](std::string_view s, bool at_start) {
    const std::string norm = normalize(normalizer, s);
    if (normalized_.empty) {
      if (!norm.empty()) out.push_back({norm, -1, at_start});
      return;
    }
    cut(norm, normalized_, at_start, out, keep);
  };
  cut(text, raw_, true, out, normalize_then_match);
  return out;
}

}  // namespace slim::hf
