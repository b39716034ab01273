// SentencePiece tokenizer.model, through libsentencepiece. A thin adapter:
// the library is the reference, so nothing is re-implemented here.
#include <sentencepiece_processor.h>

#include "io/tokenizer.h"
#include "util/error.h"

namespace slim {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path) {
    const auto status = sp_.Load(path);
    SLIM_CHECK(status.ok(), "{}: cannot load SentencePiece model: {}", path, status.ToString());
    SLIM_CHECK(sp_.GetPieceSize() > 0, "{}: SentencePiece model has an empty vocabulary", path);
  }

  std::vector<int> encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    const auto status = sp_.Encode(text, &ids);
    SLIM_CHECK(status.ok(), "{}: encode failed: {}", path_, status.ToString());
    if (add_bos && bos_id() >= 0) ids.insert(ids.begin(), bos_id());
    return ids;
  }

  // SentencePiece's own decoder: control tokens (BOS/EOS) are dropped, the
  // dummy-prefix space is removed, byte pieces are reassembled.
  std::string decode(std::span<const int> ids) const override {
    const std::vector<int> v(ids.begin(), ids.end());
    for (int id : v)
      SLIM_CHECK(id >= 0 && id < vocab_size(), "{}: token id {} out of range (vocab {})", path_, id,
                 vocab_size());
    std::string text;
    const auto status = sp_.Decode(v, &text);
    SLIM_CHECK(status.ok(), "{}: decode failed: {}", path_, status.ToString());
    return text;
  }

  std::string piece(int id) const override {
    return id >= 0 && id < vocab_size() ? sp_.IdToPiece(id) : std::string();
  }
  int vocab_size() const override { return sp_.GetPieceSize(); }
  int bos_id() const override { return sp_.bos_id(); }  // -1 when the model has none
  int eos_id() const override { return sp_.eos_id(); }
  std::string kind() const override { return "sentencepiece"; }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace slim
