// The BPE model of the Hugging Face tokenizer (tokenizers' models::bpe):
// a word starts as one symbol per character (or per byte through
// byte_fallback), then the adjacent pair with the lowest merge rank is merged
// until none is left (leftmost first among equal ranks, i.e. the same merge).
#include <fmt/format.h>


#include "io/bpe_merge.h"
#include "io/tokenizer_hf_internal.h"
#include "util/error.h"

namespace slim::hf {

Bpe::Bpe(StringMap vocab, Options opt) : vocab_(std::move(vocab)), opt_(opt) {
  for (int b = 0; b < 256; ++b) byte_ids_[b] = id(fmt::format("<0x{:02X}>", b));
}

bool Bpe::add_merge(std::string_view left, std::string_view right) {
  const int a = id(left), b = id(right);
  std::string merged(left);
  merged += right;
  const int m = id(merged);
  if (a < 0 || b < 0 || m < 0) return false;
  // A repeated pair takes its last rank, as tokenizers' HashMap collect does.
  merges_.insert_or_assign(key(a, b), Merge{next_rank_++, m});
  return true;
}

void Bpe::encode_word(std::string_view word, std::vector<int>& out) const {
  if (opt_.ignore_merges) {
    if (const int whole = id(word); whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  std::vector<int> ids;
  initial_symbols(word, ids);
  apply_merges(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void Bpe::initial_symbols(std::string_view word, std::vector<int>& ids) const {
  ids.reserve(word.size());
  bool last_unk = false;
  for (size_t i = 0; i < word.size();) {
    const size_t n = utf8_char_len(word, i);
    const std::string_view ch = word.substr(i, n);
    i += n;
    if (const int c = id(ch); c >= 0) {
      ids.push_back(c);
      last_unk = false;
      continue;
    }
    if (opt_.byte_fallback) {
      bool all = true;
      for (unsigned char b : ch) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : ch) ids.push_back(byte_ids_[b]);
        last_unk = false;
        continue;
      }
    }
    // Unknown character: unk token (fused with a preceding one if asked), or
    // dropped when the model has no unk token -- what tokenizers does.
    if (opt_.unk_id >= 0 && !(opt_.fuse_unk && last_unk)) ids.push_back(opt_.unk_id);
    last_unk = opt_.unk_id >= 0;
  }
}

// Lowest rank merges first (see io/bpe_merge.h). Words can be a whole
// paragraph: SentencePiece-style tokenizers have no pre-tokenizer.
void Bpe::apply_merges(std::vector<int>& ids) const {
  bpe_merge(ids, [&](int l, int r) -> std::optional<BpeMerge> {
    const auto it = merges_.find(key(l, r));
    if (it == merges_.end()) return std::nullopt;
    return BpeMerge{-double(it->second.rank), it->second.merged_id};
  });
}

}  // namespace slim::hf
