// GPT-2's tokenizer files (vocab.json + merges.txt + special-token configs, as
// facebook/opt-* ship them): ids worked out by hand on a tiny vocabulary, the
// special-token rules of OPT and GPT-2, errors that name the file and line or
// field, auto-detection in a model directory and `slim tokenize`; with
// ../shared, the same vocabulary as a tokenizer.json gives identical ids on
// WikiText-2 and TinyStories.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "hf_reference.h"
#include "io/tokenizer.h"
#include "test_util.h"
#include "tokenizer_test_util.h"
#include "util/files.h"

namespace slim {
namespace {

using nlohmann::json;
using Ids = std::vector<int>;
using test::byte_char;
using test::expect_error;
using test::put;

// The tiny OPT-style vocabulary. Worked by hand (GPT-2's regex splits
// "hello world" into "hello", " world"; ' ' is 'Ġ'):
//   "hello":  h e l l o -> "l l"(1) -> "h e"(2) -> "he ll"(3) -> "hell o"(6) = [15]
//   "Ġworld": Ġ w o r l d -> "o r"(4) -> "Ġ w"(5) -> "Ġw or"(7) = [18, l 6, d 11]
//   "world":  w o r l d -> "o r"(4) = [w 9, 17, 6, 11]; with "w o" ranked first:
//             wo r l d = [19, r 10, 6, 11]
const std::string G = byte_char(' ');
const std::vector<std::pair<std::string, int>> kVocab = {
    {"<s>", 0}, {"<pad>", 1}, {"</s>", 2},  {"<unk>", 3},     {"h", 4},     {"e", 5},      {"l", 6},
    {"o", 7},   {G, 8},       {"w", 9},     {"r", 10},        {"d", 11},    {"he", 12},    {"ll", 13},
    {"hell", 14}, {"hello", 15}, {G + "w", 16}, {"or", 17}, {G + "wor", 18}, {"wo", 19}};
const std::vector<std::string> kMerges = {"l l", "h e", "he ll", "o r", G + " w", "hell o", G + "w or", "w o"};

std::string vocab_text(const std::vector<std::pair<std::string, int>>& v) {
  json j = json::object();
  for (const auto& [p, id] : v) j[p] = id;
  return j.dump();
}
std::string merges_text(const std::vector<std::string>& m) {
  std::string s = "#version: 0.2\n";
  for (const auto& l : m) s += l + "\n";
  return s;
}

// OPT's special-token files (facebook/opt-125m): BOS "</s>" added.
const char* kOptConfig = R"({"add_bos_token": true, "add_prefix_space": false, "errors": "replace",
  "bos_token": {"content": "</s>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
  "eos_token": {"content": "</s>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
  "pad_token": {"content": "<pad>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
  "unk_token": {"content": "<unk>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false}})";
const char* kOptMap = R"({"bos_token": "</s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"})";

class Gpt2Files : public ::testing::Test {
 protected:
  void write_opt(const std::vector<std::string>& merges = kMerges) {
    put(dir.file("vocab.json"), vocab_text(kVocab));
    put(dir.file("merges.txt"), merges_text(merges));
    put(dir.file("tokenizer_config.json"), kOptConfig);
    put(dir.file("special_tokens_map.json"), kOptMap);
  }
  std::unique_ptr<Tokenizer> load() { return load_gpt2_tokenizer(dir.file("vocab.json"), dir.file("merges.txt")); }
  test::TempDir dir;
};

TEST_F(Gpt2Files, OptKnownEncodings) {
  write_opt();
  auto tok = load();
  EXPECT_EQ(tok->kind(), "hf-bpe-bytelevel");
  EXPECT_EQ(tok->vocab_size(), 20);
  EXPECT_EQ(tok->bos_id(), 2);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->encode("hello world", true), (Ids{2, 15, 18, 6, 11}));
  EXPECT_EQ(tok->encode("hello world", false), (Ids{15, 18, 6, 11}));
  // Special tokens are split out of the text first.
  EXPECT_EQ(tok->encode("hello</s>world<pad>", false), (Ids{15, 2, 9, 17, 6, 11, 1}));
  EXPECT_EQ(tok->decode(Ids{2, 15, 18, 6, 11, 1}), "hello world");
  EXPECT_EQ(tok->piece(18), G + "wor");
}

TEST_F(Gpt2Files, MergesRankInFileOrder) {
  write_opt();
  EXPECT_EQ(load()->encode("world", false), (Ids{9, 17, 6, 11}));
  std::vector<std::string> m = kMerges;
  m.pop_back();
  m.insert(m.begin(), "w o");  // now outranks "o r"
  write_opt(m);
  EXPECT_EQ(load()->encode("world", false), (Ids{19, 10, 6, 11}));
  // No "#version" header and CRLF line ends read the same.
  std::string crlf;
  for (const auto& l : kMerges) crlf += l + "\r\n";
  write_opt();
  put(dir.file("merges.txt"), crlf);
  EXPECT_EQ(load()->encode("hello world", false), (Ids{15, 18, 6, 11}));
}

// GPT-2 itself: no special-token files; GPT2Tokenizer's "<|endoftext|>"
// defaults apply when the vocabulary has it, and no BOS is added.
TEST_F(Gpt2Files, Gpt2DefaultsAddNoBos) {
  auto v = kVocab;
  v.push_back({"<|endoftext|>", 20});
  put(dir.file("vocab.json"), vocab_text(v));
  put(dir.file("merges.txt"), merges_text(kMerges));
  auto tok = load();
  EXPECT_EQ(tok->bos_id(), -1);
  EXPECT_EQ(tok->eos_id(), 20);
  EXPECT_EQ(tok->encode("hello<|endoftext|>", true), (Ids{15, 20}));
  // add_prefix_space from tokenizer_config.json.
  put(dir.file("tokenizer_config.json"), R"({"add_prefix_space": true})");
  EXPECT_EQ(load()->encode("world", false), (Ids{18, 6, 11}));
  // Without "<|endoftext|>" in the vocabulary: no specials at all.
  put(dir.file("vocab.json"), vocab_text(kVocab));
  std::filesystem::remove(dir.file("tokenizer_config.json"));
  EXPECT_EQ(load()->eos_id(), -1);
  EXPECT_EQ(load()->encode("</s>", false), (Ids{}));  // '<', '/', ... are not in the vocabulary
}

TEST_F(Gpt2Files, SpecialTokensMapOverridesConfig) {
  write_opt();
  put(dir.file("special_tokens_map.json"), R"({"eos_token": "<pad>"})");
  EXPECT_EQ(load()->eos_id(), 1);
  put(dir.file("tokenizer_config.json"), R"({"add_bos_token": false, "bos_token": "</s>"})");
  EXPECT_EQ(load()->bos_id(), -1);
}

TEST_F(Gpt2Files, HostileFilesNameFileAndLineOrField) {
  const std::string v = dir.file("vocab.json"), m = dir.file("merges.txt");
  write_opt();
  put(v, "{\"a\": 0, ");
  expect_error([&] { load(); }, {v, "malformed JSON"});
  put(v, "[1, 2]");
  expect_error([&] { load(); }, {v, "not a JSON object"});
  put(v, R"({"h": 0, "e": 1, "h": 2})");
  expect_error([&] { load(); }, {v, "duplicate", "'h'"});
  put(v, R"({"h": 0, "e": 0})");
  expect_error([&] { load(); }, {v, "id 0", "'h'", "'e'"});
  for (const char* bad : {"-1", "1e9", "1.5", "true", "\"3\"", "4294967296"}) {
    put(v, std::string(R"({"h": 0, "e": )") + bad + "}");
    expect_error([&] { load(); }, {v, "'e'"});
  }
  write_opt();
  put(m, merges_text({"l l", "h e x"}));
  expect_error([&] { load(); }, {m + ":3", "'h e x'", "two tokens"});
  put(m, merges_text({"l l", ""}));
  expect_error([&] { load(); }, {m + ":3"});
  put(m, merges_text({"l l", "h  e"}));
  expect_error([&] { load(); }, {m + ":3"});
  put(m, merges_text({"l q"}));
  expect_error([&] { load(); }, {m + ":2", "'q'", "vocab.json"});
  put(m, merges_text({"e h"}));  // parts exist, "eh" does not
  expect_error([&] { load(); }, {m + ":2", "'eh'"});
  put(m, merges_text({"l l", "h e", "l l"}));
  expect_error([&] { load(); }, {m + ":4", "duplicate merge"});
  std::filesystem::remove(m);
  expect_error([&] { load(); }, {m, "not found"});
  write_opt();
  put(dir.file("special_tokens_map.json"), R"({"pad_token": "<nope>"})");
  expect_error([&] { load(); }, {"special_tokens_map.json", "pad_token", "<nope>"});
  put(dir.file("special_tokens_map.json"), R"({"pad_token": 7})");
  expect_error([&] { load(); }, {"special_tokens_map.json", "pad_token"});
  put(dir.file("special_tokens_map.json"), "{oops");
  expect_error([&] { load(); }, {"special_tokens_map.json", "malformed JSON"});
  write_opt();
  put(dir.file("tokenizer_config.json"), R"({"add_bos_token": "yes"})");
  expect_error([&] { load(); }, {"tokenizer_config.json", "add_bos_token"});
}

TEST_F(Gpt2Files, DirectoryDetection) {
  write_opt();
  EXPECT_EQ(find_tokenizer_file(dir.path(), true), dir.file("vocab.json"));
  EXPECT_EQ(load_tokenizer(dir.path(), 50272)->encode("hello", true), (Ids{2, 15}));
  EXPECT_EQ(load_tokenizer(dir.file("vocab.json"), 0)->bos_id(), 2);
  expect_error([&] { load_tokenizer(dir.path(), 10); }, {"20 tokens", "only 10"});
  // vocab.json without merges.txt is not a tokenizer.
  std::filesystem::remove(dir.file("merges.txt"));
  EXPECT_EQ(find_tokenizer_file(dir.path(), true), "");
  expect_error([&] { load_tokenizer(dir.path(), 0); }, {dir.path(), "vocab.json + merges.txt"});
}

// `slim tokenize` on an OPT checkpoint directory that carries only the GPT-2
// files: the model directory's tokenizer is found without --tokenizer.
TEST_F(Gpt2Files, SlimTokenizeOnOptDirectory) {
  test::make_hf_checkpoint("opt", 5).write(dir.path());
  write_opt();
  put(dir.file("t.txt"), "hello world");
  cli::set_options_only(false);
  CLI::App app{"slim"};
  cli::add_tokenize(app);
  const std::string d = dir.path(), x = dir.file("t.txt");
  const char* argv[] = {"slim", "tokenize", "-m", d.c_str(), "--text", x.c_str()};
  testing::internal::CaptureStdout();
  app.parse(int(std::size(argv)), argv);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "2 15 18 6 11\n");
}

// quantize / pack copy the tokenizer next to their output: all four files,
// so the output directory tokenizes as the source did.
TEST_F(Gpt2Files, CopiedNextToTheOutput) {
  write_opt();
  test::TempDir out, out2;
  cli::copy_tokenizer({dir.path(), ""}, out.path());
  for (const char* f : {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"})
    EXPECT_TRUE(file_exists(out.file(f))) << f;
  EXPECT_EQ(load_tokenizer(out.path(), 0)->encode("hello world", true), (Ids{2, 15, 18, 6, 11}));
  cli::copy_tokenizer({"unused", dir.path()}, out2.path());  // --tokenizer DIR
  EXPECT_EQ(load_tokenizer(out2.path(), 0)->encode("hello world", true), (Ids{2, 15, 18, 6, 11}));
}

// ------------------------------------------------------- with ../shared --

// A realistic byte-level vocabulary: OPT's four specials, the 256 byte
// characters, then tok512's pieces in byte-level spelling, each merge a split
// of a piece into two earlier pieces, ranked by the piece's score.
struct Vocab {
  std::vector<std::pair<std::string, int>> vocab;
  std::vector<std::string> merges;
};
Vocab vocab_from_tok512(const std::string& path) {
  const std::string d = read_file(path);
  struct P {
    std::string text;
    float score;
  };
  std::vector<P> pieces;
  for (size_t o = 4; o + 8 <= d.size();) {
    float score;
    int32_t len;
    std::memcpy(&score, d.data() + o, 4);
    std::memcpy(&len, d.data() + o + 4, 4);
    pieces.push_back({d.substr(o + 8, size_t(len)), score});
    o += 8 + size_t(len);
  }
  Vocab v;
  std::map<std::string, int> id_of;
  auto add = [&](const std::string& p) {
    if (id_of.emplace(p, int(v.vocab.size())).second) v.vocab.push_back({p, int(v.vocab.size())});
  };
  for (const char* s : {"<s>", "<pad>", "</s>", "<unk>"}) add(s);
  for (int b = 0; b < 256; ++b) add(byte_char(b));
  std::vector<std::pair<float, std::string>> ranked;
  for (size_t i = 259; i < pieces.size(); ++i) {  // after <unk>, <s>, </s> and the byte pieces
    std::string bl;
    for (unsigned char c : pieces[i].text) bl += byte_char(c);
    if (id_of.count(bl)) continue;
    // Split at the first place where both halves are known (characters are
    // one or two bytes in this alphabet).
    for (size_t k = 1; k < bl.size(); ++k) {
      if ((static_cast<unsigned char>(bl[k]) & 0xC0) == 0x80) continue;
      if (id_of.count(bl.substr(0, k)) && id_of.count(bl.substr(k))) {
        ranked.push_back({pieces[i].score, bl.substr(0, k) + " " + bl.substr(k)});
        add(bl);
        break;
      }
    }
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (auto& [s, m] : ranked) v.merges.push_back(m);
  return v;
}

TEST(Gpt2FilesShared, SameIdsAsTokenizerJson) {
  SLIM_REQUIRE_SHARED(shared);
  const Vocab v = vocab_from_tok512(shared + "/data/models/tok512.bin");
  ASSERT_GT(v.merges.size(), 100u);
  test::TempDir files, js;
  put(files.file("vocab.json"), vocab_text(v.vocab));
  put(files.file("merges.txt"), merges_text(v.merges));
  put(files.file("tokenizer_config.json"), kOptConfig);
  put(files.file("special_tokens_map.json"), kOptMap);
  // What transformers' GPT2Converter writes for these files.
  json j;
  j["added_tokens"] = json::array();
  for (int i = 0; i < 4; ++i)
    j["added_tokens"].push_back({{"id", i}, {"content", v.vocab[i].first}, {"special", true}, {"normalized", true}});
  json vocab = json::object();
  for (const auto& [p, id] : v.vocab) vocab[p] = id;
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", v.merges}};
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}}}}};
  put(js.file("tokenizer.json"), j.dump());
  auto a = load_tokenizer(files.path(), 0);
  auto b = load_tokenizer(js.file("tokenizer.json"), 0);
  for (const char* rel : {"text/wikitext2_test.txt", "text/tinystories_excerpt.txt"}) {
    const std::string text = read_file(shared + "/data/" + rel);
    const Ids ia = a->encode(text, true);
    EXPECT_EQ(ia, b->encode(text, true)) << rel;
    EXPECT_EQ(ia[0], 2);
    EXPECT_LT(ia.size(), text.size() * 9 / 10) << rel << ": the merges do merge";
    EXPECT_EQ(a->decode(ia), text) << rel;
  }
}

}  // namespace
}  // namespace slim
