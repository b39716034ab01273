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

std::string sibling(const std::string& file, const char* name) {
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? name : file.substr(0, slash + 1) + name;
}

}  // namespace

// tokenizer.json first: it carries the added/special tokens exactly, and
// transformers prefers it too; vocab.json + merges.txt (GPT-2, OPT) next.
std::string find_tokenizer_file(const std::string& dir, bool with_llama2c) {
  const std::string base = ends_with(dir, "/") ? dir : dir + "/";
  if (file_exists(base + "tokenizer.json")) return base + "tokenizer.json";
  if (file_exists(base + "vocab.json") && file_exists(base + "merges.txt")) return base + "vocab.json";
  if (file_exists(base + "tokenizer.model")) return base + "tokenizer.model";
  if (with_llama2c && file_exists(base + "tokenizer.bin")) return base + "tokenizer.bin";
  return "";
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, int vocab_size) {
  std::string file = path;
  if (dir_exists(path)) {
    file = find_tokenizer_file(path, false);
    SLIM_CHECK(!file.empty(), "{}: directory holds no tokenizer.json, vocab.json + merges.txt or tokenizer.model",
               path);
  }
  SLIM_CHECK(file_exists(file), "{}: tokenizer file not found", file);
  std::unique_ptr<Tokenizer> tok;
  if (ends_with(file, "/vocab.json") || file == "vocab.json")
    tok = load_gpt2_tokenizer(file, sibling(file, "merges.txt"));
  else if (ends_with(file, ".json"))
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
