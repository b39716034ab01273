// load_tokenizer(): picks the loader from the path (see tokenizer.h).
#include <string>

#include "io/tokenizer.h"
#include "util/error.h"
#include "util/files.h"

namespace slim {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A directory holding a checkpoint: prefer tokenizer.json (HF, carries the
// added/special tokens), then tokenizer.model (SentencePiece).
std::string find_in_dir(const std::string& dir) {
  const std::string base = ends_with(dir, "/") ? dir : dir + "/";
  for (const char* name : {"tokenizer.json", "tokenizer.model"})
    if (file_exists(base + name)) return base + name;
  fail("{}: directory holds neither tokenizer.json nor tokenizer.model", dir);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, int vocab_size) {
  const std::string file = dir_exists(path) ? find_in_dir(path) : path;
  SLIM_CHECK(file_exists(file), "{}: tokenizer file not found", file);
  std::unique_ptr<Tokenizer> tok;
  if (ends_with(file, ".json"))
    tok = load_hf_tokenizer(file);
  else if (ends_with(file, ".model"))
    tok = load_sentencepiece_tokenizer(file);
  else
    return load_llama2c_tokenizer(file, vocab_size);  // checks vocab_size itself
  // Models often pad the embedding beyond the tokenizer's vocabulary (fine);
  // the reverse would produce ids the model has no row for.
  if (vocab_size > 0 && tok->vocab_size() > vocab_size)
    fail("{}: tokenizer has {} tokens but the model's vocabulary has only {}", file,
         tok->vocab_size(), vocab_size);
  return tok;
}

}  // namespace slim
