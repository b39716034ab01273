// GPT-2's tokenizer from the files the slow transformers tokenizer reads:
// vocab.json (piece -> id) + merges.txt (one "left right" merge per line, rank =
// line order, after a "#version" header), with special tokens from
// tokenizer_config.json and special_tokens_map.json beside them. The
// facebook/opt-* repositories ship only these (no tokenizer.json).
//
// The files are checked here, line by line, so errors name the file and the
// line or field; then they become the tokenizer.json document transformers'
// GPT2Converter would write (ByteLevel pre-tokenizer with GPT-2's regex,
// ByteLevel decoder, the special tokens as added tokens) and run through the
// one byte-level BPE pipeline of tokenizer_hf.cc: there is no second engine.
//
// Special tokens, as GPT2Tokenizer does it: its defaults are "<|endoftext|>"
// for bos/eos/unk (used only when the vocabulary has it, as GPT-2's does);
// tokenizer_config.json overrides them, special_tokens_map.json overrides that
// (from_pretrained loads the map last). BOS is prepended only with
// add_bos_token true (OPT: "</s>" = 2; GPT-2: nothing).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "io/tokenizer.h"
#include "io/tokenizer_hf_internal.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_num.h"

namespace slim {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Same policy as tokenizer.json: ids index dense tables, so an id far past the
// number of entries is a corrupt file, refused before anything is sized by it.
constexpr int64_t kMaxVocab = 1 << 24;
constexpr int64_t kIdSlack = 1024;

const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

// vocab.json: an object of piece -> id. A repeated key would silently keep the
// last id (nlohmann does), so keys are checked while parsing.
json parse_vocab(const std::string& path) {
  const std::string text = read_file(path);
  std::set<std::string, std::less<>> seen;
  json::parser_callback_t check = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth == 1 && ev == json::parse_event_t::key) {
      const std::string& k = parsed.get_ref<const std::string&>();
      SLIM_CHECK(seen.insert(k).second, "{}: duplicate vocabulary entry '{}'", path, k);
    }
    return true;
  };
  try {
    json j = json::parse(text, check);
    SLIM_CHECK(j.is_object(), "{}: not a JSON object of piece -> id", path);
    return j;
  } catch (const json::exception& e) {
    fail("{}: malformed JSON: {}", path, e.what());
  }
}

json parse_json_file(const std::string& path) {
  try {
    json j = json::parse(read_file(path));
    SLIM_CHECK(j.is_object(), "{}: not a JSON object", path);
    return j;
  } catch (const json::exception& e) {
    fail("{}: malformed JSON: {}", path, e.what());
  }
}

// One special token as the config files write it: "<s>" or {"content": "<s>", ...}.
struct Special {
  std::string content;
  json flags = json::object();  // lstrip / rstrip / single_word / normalized, when given
  std::string origin;           // "file: key", for errors
};

std::optional<Special> special_token(const json& v, const std::string& file, const std::string& key) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return Special{v.get<std::string>(), json::object(), file + ": " + key};
  SLIM_CHECK(v.is_object() && v.contains("content") && v["content"].is_string(),
             "{}: {} is neither a string nor an object with a \"content\" string", file, key);
  Special s{v["content"].get<std::string>(), json::object(), file + ": " + key};
  for (const char* f : {"lstrip", "rstrip", "single_word", "normalized"})
    if (const json* b = field(v, f)) {
      SLIM_CHECK(b->is_boolean(), "{}: {}.{} is not true/false", file, key, f);
      s.flags[f] = *b;
    }
  return s;
}

class Gpt2Files {
 public:
  Gpt2Files(std::string vocab_path, std::string merges_path)
      : vocab_path_(std::move(vocab_path)), merges_path_(std::move(merges_path)) {}

  std::unique_ptr<Tokenizer> load() {
    read_vocab();
    read_merges();
    read_specials();
    json j;
    j["model"] = {{"type", "BPE"}, {"vocab", std::move(vocab_)}, {"merges", std::move(merges_)}};
    j["added_tokens"] = std::move(added_);
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space_}, {"use_regex", true}};
    j["decoder"] = {{"type", "ByteLevel"}};
    return hf::make_tokenizer(j, vocab_path_, bos_, eos_);
  }

 private:
  void read_vocab() {
    vocab_ = parse_vocab(vocab_path_);
    SLIM_CHECK(!vocab_.empty(), "{}: empty vocabulary", vocab_path_);
    const int64_t bound = std::min<int64_t>(kMaxVocab, int64_t(vocab_.size()) + kIdSlack);
    std::unordered_map<int64_t, std::string> piece_of;
    for (const auto& [piece, v] : vocab_.items()) {
      const int64_t id = json_int(v, vocab_path_, fmt::format("'{}'", piece), 0, bound - 1);
      auto [it, fresh] = piece_of.emplace(id, piece);
      SLIM_CHECK(fresh, "{}: id {} is given to both '{}' and '{}'", vocab_path_, id, it->second, piece);
      id_of_.emplace(piece, int(id));
    }
  }

  // merges.txt as tokenizers reads it: lines starting with "#version" are
  // skipped, every other line is exactly two pieces separated by one space
  // (a trailing newline and CRLF line ends are fine).
  void read_merges() {
    const std::string text = read_file(merges_path_);
    std::set<std::pair<std::string, std::string>> seen;
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("#version", 0) == 0) continue;
      const size_t sp = line.find(' ');
      SLIM_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() &&
                     line.find(' ', sp + 1) == std::string::npos,
                 "{}:{}: '{}' is not two tokens separated by one space", merges_path_, line_no, line);
      std::string left = line.substr(0, sp), right = line.substr(sp + 1);
      for (const std::string& p : {left, right, left + right})
        SLIM_CHECK(id_of_.count(p), "{}:{}: merge '{}' uses '{}', which is not in {}", merges_path_, line_no,
                   line, p, vocab_path_);
      SLIM_CHECK(seen.emplace(left, right).second, "{}:{}: duplicate merge '{}'", merges_path_, line_no, line);
      merges_.push_back(json::array({std::move(left), std::move(right)}));
    }
  }

  // The special tokens become added tokens (split out of the text before the
  // BPE, skipped when decoding), as the converted tokenizer.json has them.
  void read_specials() {
    const fs::path dir = fs::path(vocab_path_).parent_path();
    std::map<std::string, Special> named;  // key ("bos_token", ...) -> token
    std::vector<Special> extra;
    bool add_bos = false;
    // GPT2Tokenizer's defaults, only where the vocabulary has the piece.
    if (id_of_.count("<|endoftext|>"))
      for (const char* k : {"bos_token", "eos_token", "unk_token"})
        named[k] = Special{"<|endoftext|>", json::object(), vocab_path_ + ": GPT-2's default " + k};
    static const char* kKeys[] = {"bos_token", "eos_token", "unk_token", "pad_token",
                                  "sep_token", "cls_token", "mask_token"};
    for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
      const std::string file = (dir / name).string();
      if (!file_exists(file)) continue;
      const json cfg = parse_json_file(file);
      for (const char* k : kKeys)
        if (cfg.contains(k)) {
          if (auto s = special_token(cfg[k], file, k))
            named[k] = *s;
          else
            named.erase(k);  // an explicit null removes the default
        }
      if (const json* list = field(cfg, "additional_special_tokens")) {
        SLIM_CHECK(list->is_array(), "{}: additional_special_tokens is not a list", file);
        for (size_t i = 0; i < list->size(); ++i)
          if (auto s = special_token((*list)[i], file, fmt::format("additional_special_tokens[{}]", i)))
            extra.push_back(*s);
      }
      if (const json* a = field(cfg, "add_bos_token")) {
        SLIM_CHECK(a->is_boolean(), "{}: add_bos_token is not true/false", file);
        add_bos = a->get<bool>();
      }
      if (const json* a = field(cfg, "add_prefix_space")) {
        SLIM_CHECK(a->is_boolean(), "{}: add_prefix_space is not true/false", file);
        add_prefix_space_ = a->get<bool>();
      }
    }
    added_ = json::array();
    std::set<std::string> done;
    auto add = [&](const Special& s) {
      auto it = id_of_.find(s.content);
      SLIM_CHECK(it != id_of_.end(), "{}: '{}' is not in {}", s.origin, s.content, vocab_path_);
      if (done.insert(s.content).second) {
        json t = {{"id", it->second}, {"content", s.content}, {"special", true}, {"normalized", false}};
        t.update(s.flags);
        added_.push_back(std::move(t));
      }
      return it->second;
    };
    for (const auto& [key, s] : named) {
      const int id = add(s);
      if (key == "bos_token") bos_ = id;
      if (key == "eos_token") eos_ = id;
    }
    for (const Special& s : extra) add(s);
    if (!add_bos) bos_ = -1;
  }

  std::string vocab_path_, merges_path_;
  json vocab_, merges_ = json::array(), added_;
  std::unordered_map<std::string, int> id_of_;
  bool add_prefix_space_ = false;
  int bos_ = -1, eos_ = -1;
};

}  // namespace

std::unique_ptr<Tokenizer> load_gpt2_tokenizer(const std::string& vocab_json, const std::string& merges_txt) {
  SLIM_CHECK(file_exists(vocab_json), "{}: vocabulary file not found", vocab_json);
  SLIM_CHECK(file_exists(merges_txt), "{}: merges file not found (vocab.json needs merges.txt beside it)",
             merges_txt);
  return Gpt2Files(vocab_json, merges_txt).load();
}

}  // namespace slim
