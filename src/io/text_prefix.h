// The first tokens of a text file without reading or tokenizing all of it
// (slim ppl --max-chunks: a 200 MB text tokenized whole peaked at 3.5 GB for
// two chunks).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/tokenizer.h"

namespace slim {

struct TextPrefix {
  std::vector<int> tokens;  // the first `need` tokens (all, when the file has fewer)
  int64_t bytes_read = 0;   // bytes of the file tokenized
  bool whole_file = false;  // the file was read to its end
};

// The first `need` tokens of tok.encode(file, add_bos). Tokenizers look only
// a short way across a line end, so the file is read in growing byte prefixes
// cut at a line end (64 KiB, or 16 bytes per needed token, then doubling);
// the answer is taken once two successive prefixes agree on the first `need`
// tokens (or the whole file was read), so a merge across the cut cannot
// change it.
TextPrefix encode_text_prefix(const Tokenizer& tok, const std::string& path, size_t need, bool add_bos);

}  // namespace slim
