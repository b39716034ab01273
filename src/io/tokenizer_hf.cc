// Hugging Face tokenizer.json (model.type "BPE"), written by hand: the JSON
// is turned into the pipeline of tokenizer_hf_internal.h, then encode() runs
//   split out added tokens and normalize (tokenizer_hf_added.h) ->
//   pre-tokenizer -> BPE per piece
// and decode() undoes the byte-level map or the '▁' / "<0xXX>" conventions.
// Two flavours are recognised from the JSON:
//   byte-level        (GPT-2, Qwen2, Llama-3): ByteLevel pre-tokenizer/decoder
//   SentencePiece-style (Llama-2, Mistral): '▁' normalizer or Metaspace,
//                      byte_fallback, decoder that strips the dummy prefix
// Anything else (WordPiece, Unigram, unknown normalizers...) is rejected with
// the file name and the unsupported component, never silently approximated.
#include <algorithm>
#include <filesystem>
#include <optional>
#include <tuple>
#include <nlohmann/json.hpp>

#include "io/tokenizer.h"
#include "io/tokenizer_hf_added.h"
#include "io/tokenizer_hf_internal.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_num.h"

namespace slim {
namespace {

using nlohmann::json;
constexpr const char* kMetaspace = "\xE2\x96\x81";  // U+2581 '▁'
// Pre-tokens up to this size are cached per encode() call; longer ones (a
// whole paragraph in SentencePiece-style tokenizers) rarely repeat.
constexpr size_t kCacheMaxBytes = 64;
// Ids index dense tables: refuse absurd ids from a corrupt file up front.
constexpr int kMaxVocab = 1 << 24;
// Room for holes in the id space beyond the entries a file lists.
constexpr int64_t kIdSlack = 1024;

// Field access that treats a missing key and JSON null alike.
const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}
bool flag(const json& j, const char* key, bool def) {
  const json* f = field(j, key);
  return f ? f->get<bool>() : def;
}
std::string text_field(const json& j, const char* key, const std::string& def = "") {
  const json* f = field(j, key);
  return f ? f->get<std::string>() : def;
}
// tokenizer_config.json writes special tokens as "<s>" or {"content": "<s>", ...}.
std::string token_name(const json* t) {
  if (!t) return "";
  if (t->is_string()) return t->get<std::string>();
  return t->is_object() ? text_field(*t, "content") : "";
}

json parse_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e309
    fail("{}: malformed JSON: {}", path, e.what());
  }
}

int byte_piece_value(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  int v = 0;
  for (char c : p.substr(3, 2)) {
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(const std::string& path);
  // An already-built tokenizer.json document (the GPT-2 vocab.json + merges.txt
  // loader makes one); `path` names it in errors; BOS/EOS come from the caller,
  // not from a tokenizer_config.json beside `path`.
  HfTokenizer(const json& j, const std::string& path, int bos, int eos);

  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string decode(std::span<const int> ids) const override;
  std::string piece(int id) const override {
    return id >= 0 && id < vocab_size() ? pieces_[id] : std::string();
  }
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }
  std::string kind() const override {
    return byte_level_ ? "hf-bpe-bytelevel" : "hf-bpe-sentencepiece";
  }

 private:
  void parse(const json& j);
  void parse_model(const json& m);
  void parse_added_tokens(const json& list);
  void parse_normalizer(const json& n, const std::string& where);
  void parse_pre_tokenizer(const json& p);
  void parse_decoder(const json& d);
  void choose_flavour();
  void parse_special_ids(const json& j);
  int token_id(const std::string& name) const;
  std::pair<int, int> template_bos_eos(const json& post) const;
  void decode_piece(int id, std::string_view space, std::string& out) const;

  std::string path_;
  std::unique_ptr<hf::Bpe> bpe_;
  std::vector<std::string> pieces_;  // id -> vocabulary entry
  hf::AddedVocab added_;
  std::vector<char> skip_in_decode_;                 // special tokens, BOS, EOS
  std::vector<hf::NormalizerStep> normalizer_;
  std::vector<hf::PreTokenizerStep> pre_tokenizer_;
  bool byte_level_ = false;
  bool sp_markers_ = false;          // '▁' normalizer / Metaspace seen
  bool decoder_byte_level_ = false;  // ByteLevel decoder seen
  bool decode_byte_fallback_ = false;
  bool strip_leading_space_ = false;  // Strip decoder: one leading ' ' of the text
  bool metaspace_first_ = false;      // Metaspace decoder: first piece loses its '▁'s
  std::string sp_replacement_ = kMetaspace;
  int bos_ = -1, eos_ = -1;
  int64_t id_bound_ = kMaxVocab;  // ids must be below this (entries in the file + slack)
  std::optional<std::pair<int, int>> preset_bos_eos_;
};

HfTokenizer::HfTokenizer(const std::string& path) : path_(path) {
  const json j = parse_json_file(path);
  try {
    parse(j);
  } catch (const json::exception& e) {  // wrong types, missing required keys
    fail("{}: unexpected tokenizer.json structure: {}", path, e.what());
  }
}

HfTokenizer::HfTokenizer(const json& j, const std::string& path, int bos, int eos)
    : path_(path), preset_bos_eos_(std::pair{bos, eos}) {
  try {
    parse(j);
  } catch (const json::exception& e) {
    fail("{}: unexpected structure: {}", path, e.what());
  }
}

void HfTokenizer::parse(const json& j) {
  SLIM_CHECK(j.is_object() && field(j, "model"), "{}: not a tokenizer.json (no \"model\")", path_);
  {
    // Ids index dense tables: an id far past the number of entries is a
    // corrupt file, refused before anything is sized by it.
    const json& m = j.at("model");
    const json* v = field(m, "vocab");
    const json* a = field(j, "added_tokens");
    id_bound_ = std::min<int64_t>(kMaxVocab, int64_t(v ? v->size() : 0) + int64_t(a ? a->size() : 0) + kIdSlack);
  }
  parse_model(j.at("model"));
  if (const json* a = field(j, "added_tokens")) parse_added_tokens(*a);
  if (const json* n = field(j, "normalizer")) parse_normalizer(*n, "normalizer");
  if (const json* p = field(j, "pre_tokenizer")) parse_pre_tokenizer(*p);
  if (const json* d = field(j, "decoder")) parse_decoder(*d);
  added_.finish(normalizer_);
  choose_flavour();
  parse_special_ids(j);
  for (int id : {bos_, eos_})
    SLIM_CHECK(id < vocab_size(), "{}: BOS/EOS id {} is outside the vocabulary ({})", path_, id,
               vocab_size());
  skip_in_decode_.assign(pieces_.size(), 0);
  for (const hf::AddedToken& t : added_.tokens())
    if (t.special) skip_in_decode_[t.id] = 1;
  for (int id : {bos_, eos_})
    if (id >= 0) skip_in_decode_[id] = 1;
}

void HfTokenizer::parse_model(const json& m) {
  // Older files omit "type"; tokenizers then recognises BPE by its merges.
  const std::string type = text_field(m, "type", field(m, "merges") ? "BPE" : "?");
  SLIM_CHECK(type == "BPE", "{}: unsupported tokenizer model type '{}' (only BPE is supported)",
             path_, type);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    SLIM_CHECK(text_field(m, key).empty(), "{}: unsupported BPE option {} (subword-prefix BPE)",
               path_, key);
  hf::StringMap vocab;
  int max_id = -1;
  for (const auto& [piece, id] : m.at("vocab").items()) {
    // The common case without formatting a field name per entry.
    const int i = id.is_number_unsigned() && id.get<uint64_t>() < uint64_t(id_bound_)
                      ? int(id.get<uint64_t>())
                      : int(json_int(id, path_, fmt::format("model.vocab['{}']", piece), 0, id_bound_ - 1));
    vocab.emplace(piece, i);
    max_id = std::max(max_id, i);
  }
  SLIM_CHECK(max_id >= 0, "{}: empty vocabulary", path_);
  pieces_.assign(max_id + 1, std::string());
  for (const auto& [piece, id] : vocab) pieces_[id] = piece;

  hf::Bpe::Options opt;
  opt.byte_fallback = flag(m, "byte_fallback", false);
  opt.ignore_merges = flag(m, "ignore_merges", false);
  opt.fuse_unk = flag(m, "fuse_unk", false);
  if (const std::string unk = text_field(m, "unk_token"); !unk.empty()) {
    auto it = vocab.find(unk);
    SLIM_CHECK(it != vocab.end(), "{}: unk_token '{}' is not in the vocabulary", path_, unk);
    opt.unk_id = it->second;
  }
  bpe_ = std::make_unique<hf::Bpe>(std::move(vocab), opt);

  // merges: ["a b", ...] (classic) or [["a", "b"], ...] (tokenizers >= 0.20).
  const json* merges = field(m, "merges");
  SLIM_CHECK(merges && merges->is_array(), "{}: BPE model without a merges list", path_);
  for (size_t r = 0; r < merges->size(); ++r) {
    const json& e = (*merges)[r];
    std::string left, right;
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const size_t sp = s.find(' ');
      SLIM_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos,
                 "{}: merge {} '{}' is not two tokens separated by one space", path_, r, s);
      left = s.substr(0, sp);
      right = s.substr(sp + 1);
    } else {
      SLIM_CHECK(e.is_array() && e.size() == 2, "{}: merge {} is neither \"a b\" nor [a, b]", path_,
                 r);
      left = e[0].get<std::string>();
      right = e[1].get<std::string>();
    }
    SLIM_CHECK(bpe_->add_merge(left, right),
               "{}: merge {} ('{}' + '{}') uses a token that is not in the vocabulary", path_, r,
               left, right);
  }
}

void HfTokenizer::parse_added_tokens(const json& list) {
  for (const json& t : list) {
    hf::AddedToken a;
    a.content = t.at("content").get<std::string>();
    a.id = int(json_int(t.at("id"), path_, fmt::format("added_tokens['{}'].id", a.content), 0, id_bound_ - 1));
    a.special = flag(t, "special", false);
    a.lstrip = flag(t, "lstrip", false);
    a.rstrip = flag(t, "rstrip", false);
    a.single_word = flag(t, "single_word", false);
    // Files written by tokenizers always have the field; without it, what
    // tokenizers' AddedToken::from(content, special) gives.
    a.normalized = flag(t, "normalized", !a.special);
    SLIM_CHECK(a.id >= 0 && a.id < kMaxVocab && !a.content.empty(),
               "{}: bad added token (id {}, '{}')", path_, a.id, a.content);
    if (a.id >= static_cast<int>(pieces_.size())) pieces_.resize(a.id + 1);
    pieces_[a.id] = a.content;
    added_.add(std::move(a));
  }
}

// `where` names the field in errors: "normalizer" or "normalizer.normalizers[1]".
void HfTokenizer::parse_normalizer(const json& n, const std::string& where) {
  static const std::pair<const char*, hf::UnicodeForm> forms[] = {{"NFC", hf::UnicodeForm::kNFC},
                                                                  {"NFD", hf::UnicodeForm::kNFD},
                                                                  {"NFKC", hf::UnicodeForm::kNFKC},
                                                                  {"NFKD", hf::UnicodeForm::kNFKD}};
  const std::string type = text_field(n, "type");
  for (const auto& [name, form] : forms)
    if (type == name) {
      normalizer_.push_back(hf::UnicodeNorm{form});
      return;
    }
  if (type == "Sequence") {
    const json& list = n.at("normalizers");
    for (size_t i = 0; i < list.size(); ++i)
      parse_normalizer(list[i], fmt::format("{}.normalizers[{}]", where, i));
  } else if (type == "Prepend") {
    const std::string prefix = n.at("prepend").get<std::string>();
    sp_markers_ = sp_markers_ || prefix == kMetaspace;
    normalizer_.push_back(hf::PrependNorm{prefix});
  } else if (type == "Replace") {
    const json* lit = field(n.at("pattern"), "String");
    SLIM_CHECK(lit, "{}: {}: unsupported normalizer Replace with a regex pattern", path_, where);
    hf::ReplaceNorm r{lit->get<std::string>(), n.at("content").get<std::string>()};
    sp_markers_ = sp_markers_ || (r.from == " " && r.to == kMetaspace);
    normalizer_.push_back(std::move(r));
  } else if (type == "Lowercase") {
    normalizer_.push_back(hf::LowercaseNorm{});
  } else {
    fail("{}: {}: unsupported normalizer type '{}' (supported: Sequence, Prepend, Replace, NFC, "
         "NFD, NFKC, NFKD, Lowercase)",
         path_, where, type);
  }
}

hf::SplitBehavior split_behavior(const std::string& path, const std::string& name) {
  using B = hf::SplitBehavior;
  static const std::pair<const char*, B> names[] = {{"Removed", B::kRemoved},
                                                    {"Isolated", B::kIsolated},
                                                    {"MergedWithPrevious", B::kMergedWithPrevious},
                                                    {"MergedWithNext", B::kMergedWithNext},
                                                    {"Contiguous", B::kContiguous}};
  for (const auto& [n, b] : names)
    if (name == n) return b;
  fail("{}: unsupported Split behavior '{}'", path, name);
}

// GPT-2's pre-tokenizer regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void HfTokenizer::parse_pre_tokenizer(const json& p) {
  const std::string type = text_field(p, "type");
  SLIM_CHECK(
      pre_tokenizer_.empty() || !std::holds_alternative<hf::ByteLevelStep>(pre_tokenizer_.back()),
      "{}: unsupported pre-tokenizer order: '{}' after ByteLevel", path_, type);
  if (type == "Sequence") {
    for (const json& s : p.at("pretokenizers")) parse_pre_tokenizer(s);
  } else if (type == "Split") {
    hf::SplitStep s;
    const json& pat = p.at("pattern");
    if (const json* re = field(pat, "Regex"))
      s.regex = std::make_shared<hf::Regex>(re->get<std::string>(), path_);
    else
      s.literal = pat.at("String").get<std::string>();
    s.behavior = split_behavior(path_, text_field(p, "behavior", "Isolated"));
    s.invert = flag(p, "invert", false);
    pre_tokenizer_.push_back(std::move(s));
  } else if (type == "Digits") {
    // tokenizers splits on char::is_numeric, i.e. \p{N}.
    hf::SplitStep s;
    s.regex = std::make_shared<hf::Regex>(
        flag(p, "individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)", path_);
    pre_tokenizer_.push_back(std::move(s));
  } else if (type == "ByteLevel") {
    hf::ByteLevelStep s;
    s.add_prefix_space = flag(p, "add_prefix_space", true);
    if (flag(p, "use_regex", true)) s.regex = std::make_shared<hf::Regex>(kGpt2Regex, path_);
    pre_tokenizer_.push_back(std::move(s));
  } else if (type == "Metaspace") {
    hf::MetaspaceStep s;
    s.replacement = text_field(p, "replacement", kMetaspace);
    // Newer files: prepend_scheme; older ones: add_prefix_space (bool).
    const std::string scheme =
        text_field(p, "prepend_scheme", flag(p, "add_prefix_space", true) ? "always" : "never");
    using P = hf::MetaspaceStep::Prepend;
    SLIM_CHECK(scheme == "always" || scheme == "first" || scheme == "never",
               "{}: unsupported Metaspace prepend_scheme '{}'", path_, scheme);
    s.prepend = scheme == "always" ? P::kAlways : scheme == "first" ? P::kFirst : P::kNever;
    s.split = flag(p, "split", true);
    sp_markers_ = true;
    sp_replacement_ = s.replacement;
    pre_tokenizer_.push_back(std::move(s));
  } else {
    fail(
        "{}: unsupported pre-tokenizer '{}' (supported: Sequence, Split, Digits, ByteLevel, "
        "Metaspace)",
        path_, type);
  }
}

void HfTokenizer::parse_decoder(const json& d) {
  const std::string type = text_field(d, "type");
  if (type == "Sequence") {
    for (const json& s : d.at("decoders")) parse_decoder(s);
  } else if (type == "ByteLevel") {
    decoder_byte_level_ = true;
  } else if (type == "ByteFallback") {
    decode_byte_fallback_ = true;
  } else if (type == "Fuse") {
    // Joining pieces is what decode() does anyway.
  } else if (type == "Replace") {
    const json* lit = field(d.at("pattern"), "String");
    const std::string to = d.at("content").get<std::string>();
    SLIM_CHECK(lit && to == " ", "{}: unsupported Replace decoder (only '▁' -> ' ')", path_);
    sp_replacement_ = lit->get<std::string>();
  } else if (type == "Strip") {
    SLIM_CHECK(
        text_field(d, "content", " ") == " " && d.value("stop", 0) == 0 && d.value("start", 0) <= 1,
        "{}: unsupported Strip decoder (only one leading space)", path_);
    strip_leading_space_ = d.value("start", 0) == 1;
  } else if (type == "Metaspace") {
    sp_replacement_ = text_field(d, "replacement", kMetaspace);
    const std::string scheme =
        text_field(d, "prepend_scheme", flag(d, "add_prefix_space", true) ? "always" : "never");
    metaspace_first_ = scheme != "never";
  } else {
    fail(
        "{}: unsupported decoder '{}' (supported: ByteLevel, Sequence, Replace, ByteFallback, "
        "Fuse, Strip, Metaspace)",
        path_, type);
  }
}

void HfTokenizer::choose_flavour() {
  const bool byte_level_pre =
      std::any_of(pre_tokenizer_.begin(), pre_tokenizer_.end(),
                  [](auto& s) { return std::holds_alternative<hf::ByteLevelStep>(s); });
  if (byte_level_pre) {
    byte_level_ = true;
    return;
  }
  SLIM_CHECK(!decoder_byte_level_,
             "{}: unsupported: ByteLevel decoder without a ByteLevel pre-tokenizer", path_);
  SLIM_CHECK(sp_markers_,
             "{}: unsupported BPE tokenizer: neither byte-level (ByteLevel pre-tokenizer) nor "
             "SentencePiece-style ('▁' normalizer or Metaspace)",
             path_);
}

int HfTokenizer::token_id(const std::string& name) const {
  for (const hf::AddedToken& t : added_.tokens())
    if (t.content == name) return t.id;
  return bpe_->id(name);
}

// The special tokens TemplateProcessing puts before / after the text.
std::pair<int, int> HfTokenizer::template_bos_eos(const json& post) const {
  if (text_field(post, "type") == "Sequence") {
    for (const json& p : post.at("processors"))
      if (auto r = template_bos_eos(p); r.first >= 0 || r.second >= 0) return r;
    return {-1, -1};
  }
  const json* single = field(post, "single");
  if (text_field(post, "type") != "TemplateProcessing" || !single || single->empty())
    return {-1, -1};
  auto special_id = [&](const json& item) {
    const json* st = field(item, "SpecialToken");
    if (!st) return -1;
    const std::string name = st->at("id").get<std::string>();
    if (const json* all = field(post, "special_tokens"); all && field(*all, name.c_str())) {
      const json& ids = all->at(name).at("ids");
      if (!ids.empty()) return int(json_int(ids[0], path_, fmt::format("post_processor.special_tokens['{}'].ids", name), 0, id_bound_ - 1));
    }
    return token_id(name);
  };
  const int bos = special_id(single->front());
  const int eos = single->size() > 1 ? special_id(single->back()) : -1;
  return {bos, eos};
}

// BOS/EOS from tokenizer_config.json beside the file when present, else from
// the post-processor template. bos_id() is the id encode(.., true) prepends:
// -1 when the tokenizer does not add one (add_bos_token false, Qwen2).
void HfTokenizer::parse_special_ids(const json& j) {
  if (preset_bos_eos_) {
    std::tie(bos_, eos_) = *preset_bos_eos_;
    return;
  }
  const json* post = field(j, "post_processor");
  const auto [tmpl_bos, tmpl_eos] = post ? template_bos_eos(*post) : std::pair{-1, -1};
  const std::string config =
      (std::filesystem::path(path_).parent_path() / "tokenizer_config.json").string();
  if (!file_exists(config)) {
    bos_ = tmpl_bos;
    eos_ = tmpl_eos;
    return;
  }
  const json cfg = parse_json_file(config);
  SLIM_CHECK(cfg.is_object(), "{}: not a JSON object", config);
  auto lookup = [&](const char* key) {
    const std::string name = token_name(field(cfg, key));
    if (name.empty()) return -1;
    const int id = token_id(name);
    SLIM_CHECK(id >= 0, "{}: {} '{}' is not in the vocabulary of {}", config, key, name, path_);
    return id;
  };
  try {
    const int cfg_bos = lookup("bos_token");
    const int cfg_eos = lookup("eos_token");
    const json* add = field(cfg, "add_bos_token");
    const bool add_bos = add ? add->get<bool>() : tmpl_bos >= 0;
    bos_ = !add_bos ? -1 : cfg_bos >= 0 ? cfg_bos : tmpl_bos;
    eos_ = cfg_eos >= 0 ? cfg_eos : tmpl_eos;
  } catch (const json::exception& e) {
    fail("{}: unexpected tokenizer_config.json structure: {}", config, e.what());
  }
}

std::vector<int> HfTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 2);
  if (add_bos && bos_ >= 0) ids.push_back(bos_);
  std::unordered_map<std::string, std::vector<int>> cache;  // pre-token -> ids
  for (hf::Segment& seg : added_.split(text, normalizer_)) {
    if (seg.added_id >= 0) {
      ids.push_back(seg.added_id);
      continue;
    }
    for (hf::Piece& p : hf::pre_tokenize(pre_tokenizer_, std::move(seg.text), seg.at_start)) {
      if (p.text.size() > kCacheMaxBytes) {
        bpe_->encode_word(p.text, ids);
        continue;
      }
      auto [it, fresh] = cache.try_emplace(std::move(p.text));
      if (fresh) bpe_->encode_word(it->first, it->second);
      ids.insert(ids.end(), it->second.begin(), it->second.end());
    }
  }
  return ids;
}

// `space`: what a '▁' becomes (" ", or "" in the first piece under a
// Metaspace decoder).
void HfTokenizer::decode_piece(int id, std::string_view space, std::string& out) const {
  const std::string& p = pieces_[id];
  if (byte_level_) {
    // ByteLevel decoder: every char maps back to a byte; a piece with a char
    // outside the table (an added token's text) is kept as it is.
    const auto& inverse = hf::unicode_to_byte();
    std::string bytes;
    for (size_t i = 0; i < p.size();) {
      const size_t n = hf::utf8_char_len(p, i);
      auto it = inverse.find(std::string_view(p).substr(i, n));
      if (it == inverse.end()) {
        out += p;
        return;
      }
      bytes += static_cast<char>(it->second);
      i += n;
    }
    out += bytes;
    return;
  }
  if (const int b = byte_piece_value(p); b >= 0 && decode_byte_fallback_) {
    out += static_cast<char>(b);
    return;
  }
  out += hf::replace_all(p, sp_replacement_, space);
}

std::string HfTokenizer::decode(std::span<const int> ids) const {
  std::string out;
  bool first = true;
  for (int id : ids) {
    SLIM_CHECK(id >= 0 && id < vocab_size(), "{}: token id {} out of range (vocab {})", path_, id,
               vocab_size());
    if (skip_in_decode_[id]) continue;
    // tokenizers' Metaspace decoder drops every '▁' of the first piece (so
    // "▁▁" first decodes to nothing, not one space): reproduced as is.
    decode_piece(id, first && metaspace_first_ ? "" : " ", out);
    first = false;
  }
  // The Strip decoder (Llama-2 style) drops the dummy-prefix space.
  if (!byte_level_ && strip_leading_space_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& tokenizer_json_path) {
  return std::make_unique<HfTokenizer>(tokenizer_json_path);
}

namespace hf {
std::unique_ptr<Tokenizer> make_tokenizer(const nlohmann::json& tokenizer_json, const std::string& path,
                                          int bos, int eos) {
  return std::make_unique<HfTokenizer>(tokenizer_json, path, bos, eos);
}
}  // namespace hf

}  // namespace slim
