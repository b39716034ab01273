// Tokenizers: hand-computed encodings on tiny generated vocabularies (no
// shared data needed), round trips, special tokens, malformed files; and, with
// ../shared, agreement between the llama2.c, SentencePiece and HF
// implementations on real text, plus throughput on WikiText-2.
#include "io/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tokenizer_test_util.h"
#include "util/error.h"
#include "util/files.h"

namespace slim {
namespace {

using nlohmann::json;
using Ids = std::vector<int>;
const std::string kSp = "\xE2\x96\x81";  // '▁'

using test::byte_char;
using test::expect_error;
using test::put;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

// ----------------------------------------------------------- vocabularies --

// A llama2.c vocabulary entry (spaces as ' ', as in tokenizer.bin).
struct Entry {
  std::string piece;
  float score;
};

// <unk>, BOS, EOS, the 256 byte tokens (ids 3..258), then `normal`.
std::vector<Entry> llama_vocab(const std::vector<Entry>& normal) {
  std::vector<Entry> v = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b) v.push_back({fmt::format("<0x{:02X}>", b), 0});
  v.insert(v.end(), normal.begin(), normal.end());
  return v;
}

std::string llama2c_bytes(const std::vector<Entry>& v) {
  int32_t max_len = 0;
  for (const Entry& e : v) max_len = std::max<int32_t>(max_len, e.piece.size());
  std::string s(reinterpret_cast<const char*>(&max_len), 4);
  for (const Entry& e : v) {
    const auto len = static_cast<int32_t>(e.piece.size());
    s.append(reinterpret_cast<const char*>(&e.score), 4);
    s.append(reinterpret_cast<const char*>(&len), 4);
    s += e.piece;
  }
  return s;
}

std::vector<Entry> read_llama2c(const std::string& path) {
  const std::string d = read_file(path);
  std::vector<Entry> v;
  for (size_t o = 4; o < d.size();) {
    Entry e;
    int32_t len;
    std::memcpy(&e.score, d.data() + o, 4);
    std::memcpy(&len, d.data() + o + 4, 4);
    e.piece = d.substr(o + 8, len);
    o += 8 + len;
    v.push_back(std::move(e));
  }
  return v;
}

// Splits points on UTF-8 character boundaries (the converter splits Python str).
std::vector<size_t> char_boundaries(const std::string& s) {
  std::vector<size_t> b;
  for (size_t i = 1; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) b.push_back(i);
  return b;
}

// A SentencePiece-style tokenizer.json for a llama2.c vocabulary, the way
// transformers' SentencePieceExtractor builds merges: for every piece, each
// split into two vocabulary pieces (ordered by their ids) is a merge; merges
// are then stably sorted by the merged piece's score, highest first. Control
// and byte pieces (ids < 259) are not merge targets (they are not "normal").
json sp_tokenizer_json(const std::vector<Entry>& v, bool legacy_metaspace = false) {
  std::vector<std::string> pieces;
  json vocab = json::object();
  std::map<std::string, int> id_of;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string p = i == 1 ? "<s>" : i == 2 ? "</s>" : replace_all(v[i].piece, " ", kSp);
    pieces.push_back(p);
    vocab[p] = i;
    id_of.emplace(p, static_cast<int>(i));
  }
  struct M {
    int l, r;
    float score;
  };
  std::vector<M> merges;
  for (size_t i = 259; i < pieces.size(); ++i) {
    std::vector<M> local;
    for (size_t k : char_boundaries(pieces[i])) {
      auto l = id_of.find(pieces[i].substr(0, k)), r = id_of.find(pieces[i].substr(k));
      if (l != id_of.end() && r != id_of.end()) local.push_back({l->second, r->second, v[i].score});
    }
    std::sort(local.begin(), local.end(),
              [](const M& a, const M& b) { return std::pair(a.l, a.r) < std::pair(b.l, b.r); });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const M& a, const M& b) { return a.score > b.score; });
  json jm = json::array();
  for (const M& m : merges) jm.push_back(pieces[m.l] + " " + pieces[m.r]);

  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array();
  for (int i = 0; i < 3; ++i)
    j["added_tokens"].push_back({{"id", i},
                                 {"content", pieces[i]},
                                 {"single_word", false},
                                 {"lstrip", false},
                                 {"rstrip", false},
                                 {"normalized", false},
                                 {"special", true}});
  j["model"] = {{"type", "BPE"},    {"dropout", nullptr},    {"unk_token", "<unk>"},
                {"fuse_unk", true}, {"byte_fallback", true}, {"vocab", vocab},
                {"merges", jm}};
  if (legacy_metaspace) {
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kSp}, {"add_prefix_space", true}};
    j["decoder"] = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "ByteFallback"}},
                      {{"type", "Metaspace"}, {"replacement", kSp}, {"add_prefix_space", true}}}}};
  } else {
    j["normalizer"] = {{"type", "Sequence"},
                       {"normalizers",
                        {{{"type", "Prepend"}, {"prepend", kSp}},
                         {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSp}}}}};
    j["pre_tokenizer"] = nullptr;
    j["decoder"] = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", kSp}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  }
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  return j;
}

// The tiny vocabulary most hand computations below use. Scores decide llama2c
// merges; the HF conversion turns them into ranks:
//   "b c" 0, "a b" 1, "▁ a" 2, "▁ ab" 3, "▁a b" 4, "a a" 5, "a bc" 6, "ab c" 7
std::vector<Entry> tiny_vocab() {
  return llama_vocab({{" ", -50},         // 259
                      {"a", -51},         // 260
                      {"b", -52},         // 261
                      {"c", -53},         // 262
                      {"\xC3\xA9", -54},  // 263 'é'
                      {"ab", -1},         // 264
                      {"bc", -0.5},       // 265
                      {" a", -2},         // 266
                      {" ab", -3},        // 267
                      {"aa", -4},         // 268
                      {"abc", -5}});      // 269
}

const std::vector<std::string> kRoundTrip = {
    "abc",
    "ab",
    "baaa",
    "a b c  abc",
    " leading space",
    "trailing space ",
    "tab\tnew\nline",
    "caf\xC3\xA9 na\xC3\xAFve \xC3\xBC",                    // é in vocab, ï and ü via bytes
    "emoji \xF0\x9F\x98\x80 and \xE6\x97\xA5\xE6\x9C\xAC",  // 😀 日本
    "bad utf-8 \xFF\xC3 x\x80",                             // stray bytes survive too
    "x"};

class TinyTokenizers : public ::testing::Test {
 protected:
  void SetUp() override {
    put(dir.file("tok.bin"), llama2c_bytes(tiny_vocab()));
    put(dir.file("sp.json"), sp_tokenizer_json(tiny_vocab()).dump());
    llama = load_llama2c_tokenizer(dir.file("tok.bin"), 270);
    hf = load_hf_tokenizer(dir.file("sp.json"));
  }
  test::TempDir dir;
  std::unique_ptr<Tokenizer> llama, hf;
};

// ------------------------------------------------------------- llama2.c --

TEST_F(TinyTokenizers, Llama2cKnownEncodings) {
  EXPECT_EQ(llama->kind(), "llama2c");
  EXPECT_EQ(llama->vocab_size(), 270);
  EXPECT_EQ(llama->bos_id(), 1);
  EXPECT_EQ(llama->eos_id(), 2);
  // " a b c": bc (-0.5) beats ab (-1); then " a" (-2); " abc" is no piece.
  EXPECT_EQ(llama->encode("abc", false), (Ids{266, 265}));
  // " a b" -> " ab" via ab then " ab".
  EXPECT_EQ(llama->encode("ab", true), (Ids{1, 267}));
  // Equal scores: the leftmost "aa" merges first.
  EXPECT_EQ(llama->encode("baaa", false), (Ids{259, 261, 268, 260}));
  // Unknown codepoints fall back to byte tokens (byte + 3): 😀 = F0 9F 98 80.
  EXPECT_EQ(llama->encode("\xC3\xA9\xF0\x9F\x98\x80", false), (Ids{259, 263, 243, 162, 155, 131}));
  EXPECT_EQ(llama->encode("", true), (Ids{1}));
  EXPECT_EQ(llama->encode("", false), (Ids{}));
  EXPECT_EQ(llama->piece(267), " ab");
}

TEST_F(TinyTokenizers, Llama2cDecode) {
  for (const auto& s : kRoundTrip) {
    EXPECT_EQ(llama->decode(llama->encode(s, true)), s) << s;
    EXPECT_EQ(llama->decode(llama->encode(s, false)), s) << s;
  }
  // Only the first piece loses its dummy-prefix space; EOS is skipped.
  EXPECT_EQ(llama->decode(Ids{1, 266, 266, 2}), "a a");
  EXPECT_EQ(llama->decode(Ids{13}), "\n");  // <0x0A>
  expect_error([&] { llama->decode(Ids{270}); }, {"tok.bin", "270"});
}

TEST_F(TinyTokenizers, Llama2cFileErrors) {
  const std::string good = llama2c_bytes(tiny_vocab());
  const std::string p = dir.file("bad.bin");
  put(p, good.substr(0, good.size() - 2));
  expect_error([&] { load_llama2c_tokenizer(p, 270); }, {p, "truncated"});
  put(p, good.substr(0, 2));
  expect_error([&] { load_llama2c_tokenizer(p, 270); }, {p, "truncated"});
  put(p, good);
  expect_error([&] { load_llama2c_tokenizer(p, 300); }, {p, "270 of 300"});
  expect_error([&] { load_llama2c_tokenizer(p, 260); }, {p, "holds 270 tokens", "260"});
  expect_error([&] { load_llama2c_tokenizer(p, 0); }, {p, "vocab_size"});
  std::string neg = good;
  const int32_t minus = -5;
  std::memcpy(neg.data() + 4 + 4, &minus, 4);  // length of token 0
  put(p, neg);
  expect_error([&] { load_llama2c_tokenizer(p, 270); }, {p, "token 0", "-5"});
  std::string huge = good;
  const int32_t big = 1 << 30;
  std::memcpy(huge.data(), &big, 4);  // max_token_length
  put(p, huge);
  expect_error([&] { load_llama2c_tokenizer(p, 270); }, {p, "max_token_length"});
  expect_error([&] { load_llama2c_tokenizer(dir.file("missing.bin"), 270); }, {"missing.bin"});
}

// ------------------------------------------- HF, SentencePiece flavour --

TEST_F(TinyTokenizers, HfSentencePieceMatchesLlama2c) {
  EXPECT_EQ(hf->kind(), "hf-bpe-sentencepiece");
  EXPECT_EQ(hf->vocab_size(), 270);
  EXPECT_EQ(hf->bos_id(), 1);  // from the TemplateProcessing post-processor
  EXPECT_EQ(hf->eos_id(), -1);
  EXPECT_EQ(hf->encode("abc", true), (Ids{1, 266, 265}));
  EXPECT_EQ(hf->encode("baaa", false), (Ids{259, 261, 268, 260}));
  EXPECT_EQ(hf->piece(267), kSp + "ab");
  for (const auto& s : kRoundTrip) {
    EXPECT_EQ(hf->encode(s, true), llama->encode(s, true)) << s;
    EXPECT_EQ(hf->decode(hf->encode(s, true)), s) << s;
  }
}

TEST_F(TinyTokenizers, HfSpecialTokensSplitFirst) {
  // Each segment beside a special token is normalized on its own, so it gets
  // its own '▁' prefix (tokenizers' behaviour for Prepend normalizers).
  EXPECT_EQ(hf->encode("ab<s>ab</s>", false), (Ids{267, 1, 267, 2}));
  EXPECT_EQ(hf->encode("<s>", false), (Ids{1}));
  EXPECT_EQ(hf->decode(Ids{1, 267, 2, 267}), "ab ab");
}

TEST_F(TinyTokenizers, HfBosEosFromConfigAndTemplate) {
  // No add_bos_token in the config: the template's <s> is still added.
  put(dir.file("tokenizer.json"), read_file(dir.file("sp.json")));
  put(dir.file("tokenizer_config.json"), R"({"eos_token": {"content": "</s>"}})");
  auto tok = load_hf_tokenizer(dir.file("tokenizer.json"));
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  put(dir.file("tokenizer_config.json"), R"({"add_bos_token": false, "bos_token": "<s>"})");
  tok = load_hf_tokenizer(dir.file("tokenizer.json"));
  EXPECT_EQ(tok->bos_id(), -1);
  EXPECT_EQ(tok->encode("ab", true), (Ids{267}));
}

TEST_F(TinyTokenizers, HfLegacyMetaspace) {
  put(dir.file("meta.json"), sp_tokenizer_json(tiny_vocab(), true).dump());
  auto meta = load_hf_tokenizer(dir.file("meta.json"));
  EXPECT_EQ(meta->kind(), "hf-bpe-sentencepiece");
  // Metaspace splits before every '▁': "▁ab", "▁ab".
  EXPECT_EQ(meta->encode("ab ab", false), (Ids{267, 267}));
  // "  abc" -> "▁▁abc" -> "▁", "▁abc" (a lone '▁' stays one piece).
  EXPECT_EQ(meta->encode("  abc", false), (Ids{259, 266, 265}));
  // Unlike SentencePiece (and the Prepend normalizer), Metaspace adds no '▁'
  // to text that already starts with a space...
  EXPECT_EQ(meta->encode(" abc", false), (Ids{266, 265}));
  EXPECT_EQ(llama->encode(" abc", false), (Ids{259, 266, 265}));
  // ...and its decoder drops every '▁' of the first piece, so a leading space
  // does not round-trip; everything else does.
  EXPECT_EQ(meta->decode(Ids{259, 266, 265}), " abc");
  EXPECT_EQ(meta->decode(meta->encode(" abc", false)), "abc");
  // prepend_scheme "first": only the text at offset 0 gets the '▁'.
  json j = sp_tokenizer_json(tiny_vocab(), true);
  j["pre_tokenizer"]["prepend_scheme"] = "first";
  put(dir.file("first.json"), j.dump());
  EXPECT_EQ(load_hf_tokenizer(dir.file("first.json"))->encode("ab<s>ab", false),
            (Ids{267, 1, 264}));
  EXPECT_EQ(meta->encode("ab<s>ab", false), (Ids{267, 1, 267}));
  for (const auto& s : kRoundTrip)
    if (s[0] != ' ') {
      EXPECT_EQ(meta->decode(meta->encode(s, false)), s) << s;
    }
}

TEST_F(TinyTokenizers, LoadDispatch) {
  EXPECT_EQ(load_tokenizer(dir.file("tok.bin"), 270)->kind(), "llama2c");
  EXPECT_EQ(load_tokenizer(dir.file("sp.json"), 270)->kind(), "hf-bpe-sentencepiece");
  expect_error([&] { load_tokenizer(dir.file("sp.json"), 100); }, {"sp.json", "270", "100"});
  expect_error([&] { load_tokenizer(dir.path(), 270); }, {dir.path(), "tokenizer.json"});
  put(dir.file("tokenizer.json"), read_file(dir.file("sp.json")));
  EXPECT_EQ(load_tokenizer(dir.path(), 0)->kind(), "hf-bpe-sentencepiece");
  put(dir.file("x.model"), "not a protobuf");
  expect_error([&] { load_tokenizer(dir.file("x.model"), 0); }, {"x.model"});
  expect_error([&] { load_sentencepiece_tokenizer(dir.file("none.model")); }, {"none.model"});
}

// ------------------------------------------------ HF, byte-level flavour --

// Bytes are ids 0..255; merges (rank order) build "Ġt", "he", "Ġthe", "at",
// "cat", "Ġc", "Ġcat" = ids 256..262; "<|endoftext|>" is 263.
json bytelevel_json(bool pair_merges, bool gpt2_style, bool ignore_merges) {
  const std::string G = byte_char(' ');  // "Ġ"
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {G, "t"}, {"h", "e"}, {G + "t", "he"}, {"a", "t"}, {"c", "at"}, {G, "c"}, {G + "c", "at"}};
  json jm = json::array();
  int id = 256;
  for (const auto& [l, r] : merges) {
    vocab[l + r] = id++;
    jm.push_back(pair_merges ? json::array({l, r}) : json(l + " " + r));
  }
  json j;
  j["added_tokens"] = {{{"id", 263}, {"content", "<|endoftext|>"}, {"special", true}}};
  j["normalizer"] = {{"type", "NFC"}};
  j["model"] = {{"type", "BPE"},
                {"vocab", vocab},
                {"merges", jm},
                {"unk_token", nullptr},
                {"ignore_merges", ignore_merges},
                {"byte_fallback", false}};
  const std::string llama3_regex =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (gpt2_style)
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  else
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", llama3_regex}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["post_processor"] = {{"type", "ByteLevel"}};
  return j;
}

class ByteLevel : public ::testing::Test {
 protected:
  std::unique_ptr<Tokenizer> load(const json& j, const std::string& name = "bl.json") {
    put(dir.file(name), j.dump());
    return load_hf_tokenizer(dir.file(name));
  }
  test::TempDir dir;
};

TEST_F(ByteLevel, KnownEncodings) {
  auto tok = load(bytelevel_json(false, false, false));
  EXPECT_EQ(tok->kind(), "hf-bpe-bytelevel");
  EXPECT_EQ(tok->vocab_size(), 264);
  EXPECT_EQ(tok->bos_id(), -1);  // no config, template adds none (Qwen2-like)
  // "the" | " cat": t,he; "Ġcat": "at" (rank 3) before "Ġc" (rank 5), then
  // "cat" (rank 4) -- so "Ġc"+"at" never gets the chance: Ġ, cat.
  EXPECT_EQ(tok->encode("the cat", true), (Ids{'t', 257, ' ', 260}));
  EXPECT_EQ(tok->encode("the the", false), (Ids{'t', 257, 258}));
  EXPECT_EQ(tok->encode("the<|endoftext|> cat", false), (Ids{'t', 257, 263, ' ', 260}));
  EXPECT_EQ(tok->decode(Ids{'t', 257, 263, ' ', 260}), "the cat");  // special skipped
  EXPECT_EQ(tok->piece(258), byte_char(' ') + "the");
}

TEST_F(ByteLevel, RoundTripsAnyBytes) {
  auto tok = load(bytelevel_json(false, false, false));
  auto gpt2 = load(bytelevel_json(false, true, false), "gpt2.json");
  for (const auto& s : kRoundTrip) {
    EXPECT_EQ(tok->decode(tok->encode(s, false)), s) << s;
    EXPECT_EQ(gpt2->decode(gpt2->encode(s, false)), s) << s;
  }
  // Numbers: Llama-3's regex groups at most three digits.
  EXPECT_EQ(tok->encode("12345", false), (Ids{'1', '2', '3', '4', '5'}));
  EXPECT_EQ(tok->decode(tok->encode("12345 678\n\n", false)), "12345 678\n\n");
}

TEST_F(ByteLevel, MergeFormatsAndIgnoreMerges) {
  auto strings = load(bytelevel_json(false, false, false), "a.json");
  auto pairs = load(bytelevel_json(true, false, false), "b.json");
  const std::string text = "the cat sat on the mat, the catalog";
  EXPECT_EQ(strings->encode(text, false), pairs->encode(text, false));
  // ignore_merges: "Ġcat" is a vocabulary entry, emitted whole.
  auto whole = load(bytelevel_json(false, false, true), "c.json");
  EXPECT_EQ(whole->encode("the cat", false), (Ids{'t', 257, 262}));
}

TEST_F(ByteLevel, BosEosFromTokenizerConfig) {
  json j = bytelevel_json(false, false, false);
  put(dir.file("tokenizer_config.json"),
      R"({"add_bos_token": true, "bos_token": {"content": "<|endoftext|>", "lstrip": false},
          "eos_token": "<|endoftext|>"})");
  auto tok = load(j, "tokenizer.json");
  EXPECT_EQ(tok->bos_id(), 263);
  EXPECT_EQ(tok->eos_id(), 263);
  EXPECT_EQ(tok->encode("the", true), (Ids{263, 't', 257}));
  put(dir.file("tokenizer_config.json"), R"({"bos_token": null, "eos_token": "<|endoftext|>"})");
  EXPECT_EQ(load(j, "tokenizer.json")->bos_id(), -1);
  put(dir.file("tokenizer_config.json"), R"({"bos_token": "<nope>"})");
  expect_error([&] { load(j, "tokenizer.json"); }, {"tokenizer_config.json", "<nope>"});
  put(dir.file("tokenizer_config.json"), "{oops");
  expect_error([&] { load(j, "tokenizer.json"); }, {"tokenizer_config.json", "malformed"});
}

TEST_F(ByteLevel, MalformedAndUnsupported) {
  const std::string p = dir.file("broken.json");
  put(p, "{\"model\": {\"type\": \"BPE\", ");
  expect_error([&] { load_hf_tokenizer(p); }, {p, "malformed JSON"});
  // Found by fuzz_tokenizer_json: a number beyond double's range is nlohmann's out_of_range,
  // not a parse_error; it escaped as a bare "[json.exception.out_of_range.406]" without the file.
  put(p, "{\"version\": \"1.0\", \"added_tokens\": [1e309]}");
  expect_error([&] { load_hf_tokenizer(p); }, {p, "malformed JSON", "1e309"});
  put(dir.file("tokenizer_config.json"), "{\"bos_token\": 1e400}");
  expect_error([&] { load(bytelevel_json(false, false, false), "tokenizer.json"); },
               {"tokenizer_config.json", "malformed JSON", "1e400"});
  std::filesystem::remove(dir.file("tokenizer_config.json"));
  json j = bytelevel_json(false, false, false);
  j["model"]["type"] = "WordPiece";
  expect_error([&] { load(j, "wp.json"); }, {"wp.json", "WordPiece"});
  j["model"]["type"] = "Unigram";
  expect_error([&] { load(j, "uni.json"); }, {"uni.json", "Unigram"});
  j = bytelevel_json(false, false, false);
  j["normalizer"] = {{"type", "BertNormalizer"}};
  expect_error([&] { load(j, "bert_norm.json"); }, {"bert_norm.json", "normalizer", "BertNormalizer"});
  j = bytelevel_json(false, false, false);
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  expect_error([&] { load(j, "bert.json"); }, {"bert.json", "BertPreTokenizer"});
  j = bytelevel_json(false, false, false);
  j["model"]["merges"].push_back("q zz");
  expect_error([&] { load(j, "merge.json"); }, {"merge.json", "zz"});
  j = bytelevel_json(false, false, false);
  j["model"]["vocab"] = "not an object";
  expect_error([&] { load(j, "vocab.json"); }, {"vocab.json"});
  j = bytelevel_json(false, false, false);
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect_error([&] { load(j, "re.json"); }, {"re.json", "(unclosed"});
}

// -------------------------------------------------- with ../shared data --

std::string shared_file(const std::string& dir, const std::string& rel) {
  return dir + "/data/" + rel;
}

// The first `n` bytes of `s`, cut back to a line end.
std::string prefix_lines(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return s.substr(0, s.rfind('\n', n) + 1);
}

TEST(TokenizerShared, Tok512) {
  SLIM_REQUIRE_SHARED(shared);
  auto tok = load_tokenizer(shared_file(shared, "models/tok512.bin"), 512);
  // Reference: a literal Python port of llama2.c run.c encode().
  EXPECT_EQ(tok->encode("Once upon a time", true), (Ids{1, 403, 407, 261, 378}));
  const std::string text = read_file(shared_file(shared, "text/tinystories_excerpt.txt"));
  EXPECT_EQ(tok->decode(tok->encode(text, true)), text);
}

TEST(TokenizerShared, Llama2cMatchesSentencePiece32k) {
  SLIM_REQUIRE_SHARED(shared);
  auto bin = load_tokenizer(shared_file(shared, "models/tokenizer_llama2_32k.bin"), 32000);
  auto spm = load_tokenizer(shared_file(shared, "models/tokenizer_llama2_32k.model"), 32000);
  EXPECT_EQ(spm->vocab_size(), 32000);
  EXPECT_EQ(spm->bos_id(), 1);
  EXPECT_EQ(spm->eos_id(), 2);
  for (const char* rel : {"text/wikitext2_test.txt", "text/tinystories_excerpt.txt"}) {
    const std::string text = prefix_lines(read_file(shared_file(shared, rel)), 20000);
    const Ids a = bin->encode(text, true), b = spm->encode(text, true);
    EXPECT_EQ(a, b) << rel;
    EXPECT_EQ(bin->decode(a), text) << rel;
    EXPECT_EQ(spm->decode(b), text) << rel;
  }
}

TEST(TokenizerShared, HfJsonFromTok512MatchesLlama2c) {
  SLIM_REQUIRE_SHARED(shared);
  const std::string bin = shared_file(shared, "models/tok512.bin");
  test::TempDir dir;
  put(dir.file("tokenizer.json"), sp_tokenizer_json(read_llama2c(bin)).dump());
  auto hf = load_tokenizer(dir.file("tokenizer.json"), 512);
  auto llama = load_tokenizer(bin, 512);
  const std::string text = read_file(shared_file(shared, "text/tinystories_excerpt.txt"));
  EXPECT_EQ(hf->encode(text, true), llama->encode(text, true));
  EXPECT_EQ(hf->decode(hf->encode(text, true)), text);
}

// Differences that exist by construction, pinned so they stay known:
//  - llama2.c's tokenizer.bin stores '▁' as ' ', so a literal U+2581 in the
//    input is no piece there (three byte tokens), while SentencePiece and the
//    HF tokenizer treat it exactly like a space (and decode it as one);
//  - the HF tokenizer splits added tokens ("<s>", "</s>") out of the text,
//    SentencePiece and llama2.c spell them out as ordinary characters.
// Neither occurs in WikiText-2, TinyStories or PIQA.
TEST(TokenizerShared, KnownDifferences32k) {
  SLIM_REQUIRE_SHARED(shared);
  const std::string bin = shared_file(shared, "models/tokenizer_llama2_32k.bin");
  test::TempDir dir;
  put(dir.file("tokenizer.json"), sp_tokenizer_json(read_llama2c(bin)).dump());
  auto llama = load_tokenizer(bin, 32000);
  auto spm = load_tokenizer(shared_file(shared, "models/tokenizer_llama2_32k.model"), 32000);
  auto hf = load_tokenizer(dir.file("tokenizer.json"), 32000);

  const std::string metaspace =
      "a\xE2\x96\x81"
      "b";  // "a▁b"
  const Ids l = llama->encode(metaspace, false);
  const Ids bytes = {0xE2 + 3, 0x96 + 3, 0x81 + 3};  // byte tokens of U+2581
  EXPECT_NE(std::search(l.begin(), l.end(), bytes.begin(), bytes.end()), l.end());
  EXPECT_EQ(llama->decode(l), metaspace);
  EXPECT_EQ(spm->encode(metaspace, false), spm->encode("a b", false));
  EXPECT_EQ(hf->encode(metaspace, false), spm->encode(metaspace, false));
  EXPECT_EQ(spm->decode(spm->encode(metaspace, false)), "a b");

  const std::string special = "x<s>y</s>";
  const Ids s = spm->encode(special, false), h = hf->encode(special, false);
  EXPECT_EQ(s, llama->encode(special, false));
  EXPECT_EQ(std::count(s.begin(), s.end(), 1) + std::count(s.begin(), s.end(), 2), 0);
  EXPECT_EQ(std::count(h.begin(), h.end(), 1), 1);
  EXPECT_EQ(std::count(h.begin(), h.end(), 2), 1);
}

// Whole WikiText-2 test split with each 32k tokenizer kind: all three must
// agree and round-trip. Speed is measured by bench/bench_tokenize, not here.
TEST(TokenizerShared, Wikitext32kAllKindsAgree) {
  SLIM_REQUIRE_SHARED(shared);
  const std::string bin = shared_file(shared, "models/tokenizer_llama2_32k.bin");
  test::TempDir dir;
  put(dir.file("tokenizer.json"), sp_tokenizer_json(read_llama2c(bin)).dump());
  const std::string text = read_file(shared_file(shared, "text/wikitext2_test.txt"));
  std::vector<std::pair<std::string, Ids>> results;
  for (const std::string& path : {bin, shared_file(shared, "models/tokenizer_llama2_32k.model"),
                                  dir.file("tokenizer.json")}) {
    auto tok = load_tokenizer(path, 32000);
    Ids ids = tok->encode(text, true);
    EXPECT_EQ(tok->decode(ids), text) << tok->kind();
    results.emplace_back(tok->kind(), std::move(ids));
  }
  for (size_t k = 1; k < results.size(); ++k) {
    const Ids &a = results[0].second, &b = results[k].second;
    const auto diff = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    EXPECT_TRUE(a == b) << results[0].first << " vs " << results[k].first << ": " << a.size()
                        << " vs " << b.size() << " tokens, first difference at token "
                        << (diff.first - a.begin());
  }
}

}  // namespace
}  // namespace slim

// ---------------------------------------------- hostile ids (issue 14) --

namespace slim {
namespace {

TEST_F(ByteLevel, VocabIdAbove32BitsIsRefusedNotWrapped) {
  json j = bytelevel_json(false, false, false);
  j["model"]["vocab"]["zzz"] = int64_t(1) << 40;  // get<int>() wrapped this to 0
  expect_error([&] { load(j, "wrap.json"); }, {"wrap.json", "model.vocab['zzz']", "1099511627776"});
}

TEST_F(ByteLevel, VocabIdFarBeyondTheEntriesIsRefusedBeforeAllocating) {
  json j = bytelevel_json(false, false, false);
  j["model"]["vocab"]["zzz"] = (1 << 24) - 1;  // sized a 16M-entry table (550 MB) before any check
  expect_error([&] { load(j, "huge.json"); }, {"huge.json", "model.vocab['zzz']", "16777215"});
}

TEST_F(ByteLevel, FractionalOrBooleanIdsAreRefused) {
  json j = bytelevel_json(false, false, false);
  j["model"]["vocab"]["zzz"] = 7.5;
  expect_error([&] { load(j, "frac.json"); }, {"frac.json", "model.vocab['zzz']", "7.5"});
  j = bytelevel_json(false, false, false);
  j["added_tokens"][0]["id"] = true;
  expect_error([&] { load(j, "bool.json"); }, {"bool.json", "added_tokens['<|endoftext|>'].id", "boolean"});
}

}  // namespace
}  // namespace slim
