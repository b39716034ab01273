// Tokenizers. One interface, three implementations:
//   - llama2.c tokenizer.bin        (tokenizer_llama2c.cc, hand-written: a tiny format)
//   - SentencePiece tokenizer.model (tokenizer_sentencepiece.cc, libsentencepiece)
//   - Hugging Face tokenizer.json   (tokenizer_hf.cc, BPE written here: byte-level
//                                    (GPT-2/Qwen2/Llama-3) and SentencePiece-style
//                                    (Llama/Mistral) flavours; no Debian library)
//   - GPT-2 vocab.json + merges.txt (tokenizer_gpt2_files.cc, into the same
//                                    byte-level pipeline)
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace slim {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids for `text`. With add_bos, the BOS id is prepended when the
  // tokenizer has one (Qwen2-style tokenizers have none: then nothing is added).
  virtual std::vector<int> encode(std::string_view text, bool add_bos) const = 0;

  // Text for a whole id sequence, as the reference decoders produce it
  // (SentencePiece-style: the dummy-prefix space of the first piece is dropped;
  // BOS/EOS/special tokens are skipped; byte tokens become raw bytes).
  virtual std::string decode(std::span<const int> ids) const = 0;

  // The raw vocabulary entry (for `slim tokenize --pieces`, debugging).
  virtual std::string piece(int id) const = 0;

  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 when none
  virtual int eos_id() const = 0;  // -1 when none
  virtual std::string kind() const = 0;  // "llama2c", "sentencepiece", "hf-bpe-bytelevel", "hf-bpe-sentencepiece"
};

// llama2.c tokenizer.bin: int32 max_token_length, then per token: float score,
// int32 len, len bytes. The vocabulary size is not in the file: it is the
// model's. BOS=1, EOS=2, byte-fallback tokens "<0xXX>".
std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::string& path, int vocab_size);

// SentencePiece model file (tokenizer.model).
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path);

// Hugging Face tokenizer.json (model.type == "BPE"). If a tokenizer_config.json
// sits beside it, its bos/eos tokens and add_bos_token are honoured.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& tokenizer_json_path);

// GPT-2's byte-level BPE from vocab.json + merges.txt (what facebook/opt-* and
// gpt2 ship for the slow tokenizer), with the special tokens and add_bos_token
// of tokenizer_config.json / special_tokens_map.json beside vocab.json.
std::unique_ptr<Tokenizer> load_gpt2_tokenizer(const std::string& vocab_json, const std::string& merges_txt);

// The tokenizer file of a model directory, in the order a checkpoint's own
// files are preferred: tokenizer.json, vocab.json (with merges.txt beside it),
// tokenizer.model, then tokenizer.bin when `with_llama2c`; "" when none.
std::string find_tokenizer_file(const std::string& dir, bool with_llama2c);

// Picks the loader from the file: vocab.json -> GPT-2 files (merges.txt
// beside it), other *.json -> HF, *.model -> SentencePiece, anything else ->
// llama2.c (needs vocab_size). A directory is searched with
// find_tokenizer_file (without tokenizer.bin). Errors name the file and the problem.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, int vocab_size);

}  // namespace slim
