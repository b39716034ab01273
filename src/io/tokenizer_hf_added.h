// Added tokens of a Hugging Face tokenizer.json (its "added_tokens" list) and
// how encode() cuts them out of the text before the normalizer, pre-tokenizer
// and BPE see it. Internal: include only from tokenizer_hf*.cc.
//
// The order is tokenizers' (AddedVocabulary::extract_and_normalize):
//   1. tokens with normalized false are matched on the raw text;
//   2. each stretch between them is normalized on its own;
//   3. tokens with normalized true are matched on that normalized text, as
//      their content after the same normalizer.
// Matching is leftmost-longest and non-overlapping (tokenizers' aho-corasick);
// single_word, lstrip and rstrip use Unicode word characters and whitespace.
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "io/tokenizer_hf_internal.h"

namespace slim::hf {

struct AddedToken {
  std::string content;
  int id = -1;
  bool special = false, lstrip = false, rstrip = false, single_word = false;
  bool normalized = false;  // matched on the normalized text (step 3 above)
};

// A stretch of input: an added token or normalized text for the pre-tokenizer.
struct Segment {
  std::string text;  // normalized text (empty for an added token)
  int added_id;      // -1: ordinary text
  bool at_start;     // begins at offset 0 of the input (Metaspace prepend_scheme "first")
};

class AddedVocab {
 public:
  void add(AddedToken t) { tokens_.push_back(std::move(t)); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // Builds the two matchers once every token and the normalizer are known.
  void finish(const std::vector<NormalizerStep>& normalizer);

  std::vector<Segment> split(std::string_view text,
                             const std::vector<NormalizerStep>& normalizer) const;

 private:
  // Patterns (token contents, normalized ones for step 3) indexed by first
  // byte, longest first, so the first hit at a position is the longest.
  struct Matcher {
    std::vector<std::string> patterns;  // per token; empty: not in this matcher
    std::array<std::vector<int>, 256> by_first_byte;
    bool empty = true;
  };
  struct Match {
    size_t begin, end;
    int token;  // index in tokens_
  };
  static void build(Matcher& m);
  // The accepted matches in `text`, with lstrip/rstrip applied, in order.
  std::vector<Match> find(std::string_view text, const Matcher& m) const;
  // Appends `text` cut at the matches of `m`; unmatched stretches go to `rest`.
  template <class Rest>
  void cut(std::string_view text, const Matcher& m, bool at_start, std::vector<Segment>& out,
           Rest&& rest) const;

  std::vector<AddedToken> tokens_;
  Matcher raw_, normalized_;
};

}  // namespace slim::hf
