// HF tokenizer.json: Unicode normalizers and the Unicode rules of added tokens
// (lstrip/rstrip whitespace, single_word word characters, normalized tokens
// matched after the normalizer), checked against tokenizers' documented
// behaviour on a byte-level vocabulary where the expected ids are the bytes of
// the expected text: id b is byte b, 256 is "é" (U+00E9, bytes C3 A9, one
// merge), added tokens from 257.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/llama2c_checkpoint.h"
#include "io/tokenizer.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tokenizer_test_util.h"

namespace slim {
namespace {

using nlohmann::json;
using Ids = std::vector<int>;
using test::byte_char;
using test::expect_error;
using test::put;

constexpr int kE = 256;  // "é" precomposed
const std::string kAcute = "\xCC\x81";       // U+0301 COMBINING ACUTE ACCENT
const std::string kEAcute = "\xC3\xA9";      // U+00E9 'é'
const std::string kKelvin = "\xE2\x84\xAA";  // U+212A KELVIN SIGN
const std::string kFi = "\xEF\xAC\x81";      // U+FB01 LATIN SMALL LIGATURE FI

// The ids of `s` taken as bytes (no merges apply).
Ids bytes(std::string_view s) {
  Ids ids;
  for (char c : s) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}
Ids cat(Ids a, const Ids& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

json added(int id, const std::string& content, bool normalized, const json& flags = json::object()) {
  json t = {{"id", id},          {"content", content},      {"single_word", false},
            {"lstrip", false},   {"rstrip", false},         {"normalized", normalized},
            {"special", !normalized}};
  t.update(flags);
  return t;
}

// One pre-token per segment (ByteLevel without its regex), so what reaches
// the BPE is exactly the normalized text.
json tokenizer(const json& normalizer, const json& added_tokens = json::array()) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  vocab[byte_char(0xC3) + byte_char(0xA9)] = kE;
  json j;
  j["added_tokens"] = added_tokens;
  j["normalizer"] = normalizer;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  j["model"] = {{"type", "BPE"},
                {"vocab", vocab},
                {"merges", json::array({json::array({byte_char(0xC3), byte_char(0xA9)})})}};
  j["decoder"] = {{"type", "ByteLevel"}};
  return j;
}
json norm(const char* type) { return {{"type", type}}; }
json sequence(const json& list) { return {{"type", "Sequence"}, {"normalizers", list}}; }
json replace(const std::string& from, const std::string& to) {
  return {{"type", "Replace"}, {"pattern", {{"String", from}}}, {"content", to}};
}

class HfNormalize : public ::testing::Test {
 protected:
  std::unique_ptr<Tokenizer> load(const json& j, const std::string& name = "tokenizer.json") {
    put(dir.file(name), j.dump());
    return load_hf_tokenizer(dir.file(name));
  }
  test::TempDir dir;
};

TEST_F(HfNormalize, NfcComposesDecomposedAccents) {
  auto raw = load(tokenizer(nullptr), "raw.json");
  EXPECT_EQ(raw->encode("cafe" + kAcute, false), bytes("cafe" + kAcute));  // control: two tokens
  auto nfc = load(tokenizer(norm("NFC")));
  EXPECT_EQ(nfc->encode("cafe" + kAcute, false), (Ids{'c', 'a', 'f', kE}));
  EXPECT_EQ(nfc->encode("caf" + kEAcute, false), (Ids{'c', 'a', 'f', kE}));
  EXPECT_EQ(nfc->decode(nfc->encode("cafe" + kAcute, false)), "caf" + kEAcute);
}

TEST_F(HfNormalize, NfcMapsSingletonsButKeepsCompatibilityCharacters) {
  auto nfc = load(tokenizer(norm("NFC")));
  // Singleton decompositions never recompose: U+212A -> 'K', U+212B -> U+00C5,
  // U+2126 OHM SIGN -> U+03A9.
  EXPECT_EQ(nfc->encode(kKelvin, false), (Ids{'K'}));
  EXPECT_EQ(nfc->encode("\xE2\x84\xAB", false), bytes("\xC3\x85"));
  EXPECT_EQ(nfc->encode("\xE2\x84\xA6", false), bytes("\xCE\xA9"));
  EXPECT_EQ(nfc->encode(kFi + "\xC2\xB2", false), bytes(kFi + "\xC2\xB2"));  // 'ﬁ', '²' stay
}

TEST_F(HfNormalize, NfkcFoldsCompatibilityCharacters) {
  auto nfkc = load(tokenizer(norm("NFKC")));
  EXPECT_EQ(nfkc->encode(kFi + "x\xC2\xB2", false), bytes("fix2"));
  EXPECT_EQ(nfkc->encode(kKelvin, false), (Ids{'K'}));
  EXPECT_EQ(nfkc->encode("e" + kAcute, false), (Ids{kE}));
}

TEST_F(HfNormalize, NfdAndNfkdDecompose) {
  auto nfd = load(tokenizer(norm("NFD")), "nfd.json");
  EXPECT_EQ(nfd->encode(kEAcute, false), bytes("e" + kAcute));
  EXPECT_EQ(nfd->encode(kFi, false), bytes(kFi));
  EXPECT_EQ(nfd->encode(kKelvin, false), (Ids{'K'}));
  auto nfkd = load(tokenizer(norm("NFKD")), "nfkd.json");
  EXPECT_EQ(nfkd->encode(kFi + kEAcute, false), bytes("fie" + kAcute));
}

TEST_F(HfNormalize, SequenceAppliesNormalizersInOrder) {
  // The accent-stripping recipe: decompose, then drop the combining accent.
  auto strip = load(tokenizer(sequence({norm("NFD"), replace(kAcute, "")})), "a.json");
  EXPECT_EQ(strip->encode("Caf" + kEAcute, false), bytes("Cafe"));
  // The other way round the Replace finds nothing yet.
  auto late = load(tokenizer(sequence({replace(kAcute, ""), norm("NFD")})), "b.json");
  EXPECT_EQ(late->encode("Caf" + kEAcute, false), bytes("Cafe" + kAcute));
  // Lowercase is Unicode's: 'É' -> 'é'; 'İ' -> "i" + U+0307 (full mapping).
  auto lower = load(tokenizer(sequence({norm("NFC"), norm("Lowercase")})), "c.json");
  EXPECT_EQ(lower->encode("\xC3\x89" "COLE \xC4\xB0", false),
            cat(Ids{kE}, bytes("cole i\xCC\x87")));
}

TEST_F(HfNormalize, InvalidUtf8SurvivesNormalization) {
  // tokenizers only sees valid text; here stray bytes are kept and the valid
  // stretches between them are normalized.
  auto nfc = load(tokenizer(norm("NFC")));
  const std::string text = "\xFF" "e" + kAcute + "\xC3";
  EXPECT_EQ(nfc->encode(text, false), (Ids{0xFF, kE, 0xC3}));
  EXPECT_EQ(nfc->decode(nfc->encode(text, false)), "\xFF" + kEAcute + "\xC3");
}

TEST_F(HfNormalize, AddedTokenStripsUnicodeWhitespace) {
  auto tok = load(tokenizer(nullptr, json::array({added(257, "<m>", false, {{"lstrip", true}, {"rstrip", true}})})));
  // Unicode White_Space (Rust's char::is_whitespace): NBSP, NEL, OGHAM SPACE
  // MARK, EN QUAD .. HAIR SPACE, LINE/PARAGRAPH SEPARATOR, NNBSP, MMSP,
  // IDEOGRAPHIC SPACE, besides ASCII.
  for (const std::string ws : {" ", "\t", "\xC2\xA0", "\xC2\x85", "\xE1\x9A\x80", "\xE2\x80\x80",
                               "\xE2\x80\x8A", "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF",
                               "\xE2\x81\x9F", "\xE3\x80\x80"})
    EXPECT_EQ(tok->encode("a" + ws + "<m>" + ws + ws + "b", false), (Ids{'a', 257, 'b'}))
        << "whitespace bytes " << json(ws).dump();
  // Not White_Space: ZERO WIDTH SPACE, MONGOLIAN VOWEL SEPARATOR (since Unicode 6.3).
  EXPECT_EQ(tok->encode("a\xE2\x80\x8B<m>", false), cat(bytes("a\xE2\x80\x8B"), {257}));
  EXPECT_EQ(tok->encode("<m>\xE1\xA0\x8E", false), cat({257}, bytes("\xE1\xA0\x8E")));
}

TEST_F(HfNormalize, SingleWordUsesUnicodeWordCharacters) {
  auto tok = load(tokenizer(nullptr, json::array({added(257, "<m>", false, {{"single_word", true}})})));
  // Beside a word character (regex \w: letters, marks, decimal digits, '_')
  // the token is ordinary text...
  EXPECT_EQ(tok->encode(kEAcute + "<m>", false), cat({kE}, bytes("<m>")));
  EXPECT_EQ(tok->encode("\xE6\x97\xA5<m>", false), bytes("\xE6\x97\xA5<m>"));  // 日
  EXPECT_EQ(tok->encode("\xD9\xA3<m>", false), bytes("\xD9\xA3<m>"));          // ARABIC-INDIC 3
  EXPECT_EQ(tok->encode("<m>" + kAcute, false), bytes("<m>" + kAcute));        // combining mark
  EXPECT_EQ(tok->encode("_<m>", false), bytes("_<m>"));
  // ...beside punctuation, symbols, other numbers or any space it is the token.
  EXPECT_EQ(tok->encode("\xC2\xAB<m>\xC2\xBB", false), (Ids{0xC2, 0xAB, 257, 0xC2, 0xBB}));  // «»
  EXPECT_EQ(tok->encode("\xC2\xA0<m>\xE2\x80\x94", false), (Ids{0xC2, 0xA0, 257, 0xE2, 0x80, 0x94}));
  EXPECT_EQ(tok->encode("<m>\xC2\xB2", false), (Ids{257, 0xC2, 0xB2}));  // '²' is No, not Nd
  EXPECT_EQ(tok->encode("a <m>", false), (Ids{'a', ' ', 257}));
}

TEST_F(HfNormalize, SingleWordMissSkipsPastTheMatch) {
  // tokenizers finds leftmost-longest matches without overlap and only then
  // drops those single_word forbids: the search does not look inside a
  // dropped match, so "ab" inside "xab" is never tried.
  auto tok = load(tokenizer(nullptr, json::array({added(257, "xa", false, {{"single_word", true}}),
                                                   added(258, "ab", false)})));
  EXPECT_EQ(tok->encode("xab", false), bytes("xab"));
  EXPECT_EQ(tok->encode("xaab", false), (Ids{'x', 'a', 258}));
  EXPECT_EQ(tok->encode("xa b", false), (Ids{257, ' ', 'b'}));
}

TEST_F(HfNormalize, NormalizedAddedTokenMatchesTheNormalizedText) {
  // "Hello" (normalized) is looked for as "hello" in the lowercased text;
  // "<S>" (not normalized) is cut out of the raw text first.
  auto tok = load(tokenizer(norm("Lowercase"),
                                 json::array({added(257, "Hello", true), added(258, "<S>", false)})));
  EXPECT_EQ(tok->encode("Say HELLO<S>hello", false), cat(bytes("say "), {257, 258, 257}));
  EXPECT_EQ(tok->encode("<s>", false), bytes("<s>"));  // the raw token needs the raw text
  EXPECT_EQ(tok->decode(Ids{257, 258}), "Hello");      // 258 is special: skipped
}

TEST_F(HfNormalize, NormalizedAddedTokenMatchesAfterNfc) {
  auto tok = load(tokenizer(norm("NFC"), json::array({added(257, "cafe" + kAcute, true),
                                                       added(258, "ne" + kAcute, false)})));
  // The normalized token's content is NFC'd too, so either spelling matches.
  EXPECT_EQ(tok->encode("a cafe" + kAcute, false), (Ids{'a', ' ', 257}));
  EXPECT_EQ(tok->encode("a caf" + kEAcute, false), (Ids{'a', ' ', 257}));
  // The raw token matches only its own spelling, before NFC runs.
  EXPECT_EQ(tok->encode("ne" + kAcute + " n" + kEAcute, false), (Ids{258, ' ', 'n', kE}));
}

TEST_F(HfNormalize, UnknownNormalizerNamesFileAndField) {
  expect_error([&] { load(tokenizer(sequence({norm("NFC"), norm("Bogus")})), "seq.json"); },
               {"seq.json", "normalizer.normalizers[1]", "'Bogus'"});
  expect_error([&] { load(tokenizer(norm("Strip")), "top.json"); }, {"top.json", "normalizer", "'Strip'"});
}

// `slim tokenize` goes through the same loader: decomposed input prints the
// NFC ids.
TEST_F(HfNormalize, SlimTokenizePrintsNfcIds) {
  test::TinySpec spec;
  spec.vocab = 260;  // the tokenizer's 257 ids fit
  save_llama2c(test::make_tiny_model(spec), dir.file("m.bin"));
  put(dir.file("tokenizer.json"), tokenizer(norm("NFC")).dump());
  put(dir.file("t.txt"), "cafe" + kAcute);
  cli::set_options_only(false);
  CLI::App app{"slim"};
  cli::add_tokenize(app);
  const std::string m = dir.file("m.bin"), t = dir.file("tokenizer.json"), x = dir.file("t.txt");
  const char* argv[] = {"slim", "tokenize", "-m", m.c_str(), "-t", t.c_str(), "--text", x.c_str(), "--no-bos"};
  testing::internal::CaptureStdout();
  app.parse(int(std::size(argv)), argv);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "99 97 102 256\n");
}

}  // namespace
}  // namespace slim
