// Readers of the zero-shot task formats (see tasks.h). The prompt strings are
// built exactly as lm-evaluation-harness builds them; each reader names the
// harness file it mirrors.
#include "io/tasks.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/files.h"

namespace slim {

namespace {

using nlohmann::json;

// The file's lines without their '\n' (and a CR before it), 1-based numbering
// is the index + 1. A final newline does not make an extra empty line.
std::vector<std::string> file_lines(const std::string& path) {
  std::string text = read_file(path);
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // UTF-8 BOM from some Windows exports
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\v\f") == std::string_view::npos; }

// lm-eval's target_delimiter " " + choice. (A helper rather than `" " + s`,
// which trips GCC 12's false -Wrestrict positive, PR105329.) A blank choice is
// refused: it encodes to no tokens, scores log-likelihood 0 and always wins.
std::string delim(std::string_view s) {
  SLIM_CHECK(!is_blank(s), "an answer choice is empty: it would score 0 and always win");
  std::string r;
  r.reserve(s.size() + 1);
  r += ' ';
  r += s;
  return r;
}


// Python's str.strip() for ASCII whitespace.
std::string_view py_strip(std::string_view s) {
  const char* ws = " \t\n\r\v\f";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// Parses every non-blank line of a jsonl file and hands it to `fn`; any
// problem, in the JSON or in `fn`, becomes "FILE:LINE: problem".
void for_each_jsonl(const std::string& path, const std::function<void(const json&)>& fn) {
  std::vector<std::string> lines = file_lines(path);
  int records = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (is_blank(lines[i])) continue;
    ++records;
    json j;
    try {
      j = json::parse(lines[i]);
    } catch (const json::exception& e) {
      fail("{}:{}: invalid JSON ({})", path, i + 1, e.what());
    }
    try {
      SLIM_CHECK(j.is_object(), "expected a JSON object, got {}", j.type_name());
      fn(j);
    } catch (const Error& e) {
      fail("{}:{}: {}", path, i + 1, e.what());
    } catch (const json::exception& e) {
      fail("{}:{}: {}", path, i + 1, e.what());
    }
  }
  SLIM_CHECK(records > 0, "{}: no examples (the file is empty)", path);
}

const json& field(const json& j, const char* key) {
  auto it = j.find(key);
  SLIM_CHECK(it != j.end(), "missing field \"{}\"", key);
  return *it;
}

std::string str_field(const json& j, const char* key) {
  const json& v = field(j, key);
  SLIM_CHECK(v.is_string(), "field \"{}\" should be a string, got {}", key, v.type_name());
  return v.get<std::string>();
}

// An integer label given as a number or a string of digits ("2"), in [0, n).
int int_label(const json& j, const char* key, int n) {
  const json& v = field(j, key);
  long x = -1;
  if (v.is_number_integer()) {
    x = v.get<long>();
  } else if (v.is_boolean()) {
    x = v.get<bool>() ? 1 : 0;
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    SLIM_CHECK(!s.empty() && s.size() < 6 && s.find_first_not_of("0123456789") == std::string::npos,
               "field \"{}\" should be an integer, got \"{}\"", key, s);
    x = std::stol(s);
  } else {
    fail("field \"{}\" should be an integer, got {}", key, v.type_name());
  }
  SLIM_CHECK(x >= 0 && x < n, "field \"{}\" = {} is outside 0..{}", key, x, n - 1);
  return int(x);
}

std::vector<std::string> str_array(const json& v, const char* what) {
  SLIM_CHECK(v.is_array(), "\"{}\" should be an array, got {}", what, v.type_name());
  std::vector<std::string> out;
  for (const json& e : v) {
    SLIM_CHECK(e.is_string(), "\"{}\" should hold strings, got {}", what, e.type_name());
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

std::string py_capitalize(std::string_view text) {
  std::string s(text);
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x80) continue;
    s[i] = char(i == 0 ? std::toupper(ch) : std::tolower(ch));
  }
  return s;
}

std::string hellaswag_preprocess(std::string_view text) {
  // lm_eval/tasks/hellaswag/utils.py (v0.4) == hellaswag.py (v0.3):
  //   text = text.strip()
  //   text = text.replace(" [title]", ". ")      # WikiHow artifacts
  //   text = re.sub("\\[.*?\\]", "", text)
  //   text = text.replace("  ", " ")
  std::string a(py_strip(text));
  std::string b;
  for (size_t i = 0; i < a.size();) {
    if (a.compare(i, 8, " [title]") == 0) {
      b += ". ";
      i += 8;
    } else {
      b += a[i++];
    }
  }
  // Non-greedy "\[.*?\]": a '[' up to the next ']' on the same line ('.'
  // does not match '\n'); an unclosed '[' stays.
  std::string c;
  for (size_t i = 0; i < b.size();) {
    if (b[i] == '[') {
      size_t j = b.find_first_of("]\n", i + 1);
      if (j != std::string::npos && b[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    c += b[i++];
  }
  // str.replace("  ", " "): one left-to-right pass, so three spaces become two.
  std::string d;
  for (size_t i = 0; i < c.size();) {
    if (c[i] == ' ' && i + 1 < c.size() && c[i + 1] == ' ') {
      d += ' ';
      i += 2;
    } else {
      d += c[i++];
    }
  }
  return d;
}

std::vector<McExample> read_piqa(const std::string& jsonl, const std::string& labels_lst) {
  // lm_eval/tasks/piqa/piqa.yaml: doc_to_text "Question: {{goal}}\nAnswer:",
  // doc_to_choice "{{[sol1, sol2]}}" (v0.3 piqa.py: the same strings). The
  // solutions are used verbatim, trailing spaces included.
  std::vector<McExample> out;
  for_each_jsonl(jsonl, [&](const json& j) {
    McExample e;
    e.context = "Question: " + str_field(j, "goal") + "\nAnswer:";
    e.continuations = {delim(str_field(j, "sol1")), delim(str_field(j, "sol2"))};
    e.label = labels_lst.empty() ? int_label(j, "label", 2) : -1;
    out.push_back(std::move(e));
  });
  if (labels_lst.empty()) return out;
  std::vector<std::string> lines = file_lines(labels_lst);
  while (!lines.empty() && is_blank(lines.back())) lines.pop_back();
  SLIM_CHECK(lines.size() == out.size(), "{} has {} labels but {} has {} examples", labels_lst, lines.size(), jsonl,
             out.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = py_strip(lines[i]);
    SLIM_CHECK(l == "0" || l == "1", "{}:{}: expected a label 0 or 1, got \"{}\"", labels_lst, i + 1, lines[i]);
    out[i].label = l == "1";
  }
  return out;
}

std::vector<McExample> read_arc(const std::string& jsonl) {
  // lm_eval/tasks/arc/arc_easy.yaml: doc_to_text "Question: {{question}}\nAnswer:",
  // doc_to_choice "{{choices.text}}", gold = choices.label.index(answerKey).
  // v0.3 arc.py maps "1".."5" to "A".."E" and indexes "ABCDE" instead; the two
  // agree whenever the labels are listed in order, as in every ARC file.
  std::vector<McExample> out;
  for_each_jsonl(jsonl, [&](const json& j) {
    const json& q = field(j, "question");
    std::string stem;
    std::vector<std::string> texts, labels;
    if (q.is_object()) {  // AI2 release
      stem = str_field(q, "stem");
      const json& ch = field(q, "choices");
      SLIM_CHECK(ch.is_array(), "\"question.choices\" should be an array");
      for (const json& c : ch) {
        SLIM_CHECK(c.is_object(), "\"question.choices\" should hold objects");
        texts.push_back(str_field(c, "text"));
        labels.push_back(str_field(c, "label"));
      }
    } else {  // Hugging Face allenai/ai2_arc export
      SLIM_CHECK(q.is_string(), "field \"question\" should be an object or a string");
      stem = q.get<std::string>();
      const json& ch = field(j, "choices");
      texts = str_array(field(ch, "text"), "choices.text");
      labels = str_array(field(ch, "label"), "choices.label");
      SLIM_CHECK(texts.size() == labels.size(), "choices.text and choices.label differ in length");
    }
    SLIM_CHECK(texts.size() >= 2, "expected at least 2 choices, got {}", texts.size());
    const std::string key = str_field(j, "answerKey");
    auto find = [&](const std::string& k) { return std::find(labels.begin(), labels.end(), k) - labels.begin(); };
    long idx = find(key);
    if (idx == long(labels.size()) && key.size() == 1) {  // "1" in a file labelled A-E, or the reverse
      const char k = key[0];
      if (k >= '1' && k <= '5') idx = find(std::string(1, char('A' + (k - '1'))));
      if (k >= 'A' && k <= 'E') idx = find(std::string(1, char('1' + (k - 'A'))));
    }
    SLIM_CHECK(idx < long(labels.size()), "answerKey \"{}\" is not one of the choice labels", key);
    McExample e;
    e.context = "Question: " + stem + "\nAnswer:";
    for (const auto& t : texts) e.continuations.push_back(delim(t));
    e.label = int(idx);
    out.push_back(std::move(e));
  });
  return out;
}

std::vector<McExample> read_boolq(const std::string& jsonl) {
  // lm_eval/tasks/super_glue/boolq/default.yaml: doc_to_text
  // "{{passage}}\nQuestion: {{question}}?\nAnswer:", doc_to_choice ["no", "yes"].
  // v0.3 superglue.py BoolQ: same prompt, acc = (ll_yes > ll_no) == gold, so a
  // tie counts as "no" in both.
  std::vector<McExample> out;
  for_each_jsonl(jsonl, [&](const json& j) {
    McExample e;
    e.context = str_field(j, "passage") + "\nQuestion: " + str_field(j, "question") + "?\nAnswer:";
    e.continuations = {" no", " yes"};
    if (j.contains("answer")) {  // original release: "answer": true/false
      const json& a = j["answer"];
      SLIM_CHECK(a.is_boolean(), "field \"answer\" should be true or false, got {}", a.type_name());
      e.label = a.get<bool>() ? 1 : 0;
    } else {  // SuperGLUE / HF: "label": 0 (false) or 1 (true)
      e.label = int_label(j, "label", 2);
    }
    out.push_back(std::move(e));
  });
  return out;
}

namespace {

// llama.cpp's hellaswag_val_full.txt (examples/perplexity/perplexity.cpp,
// hellaswag_score): per task the context (already preprocessed as lm-eval
// does), the gold index, then the 4 endings; llama.cpp scores
// context + " " + ending.
std::vector<McExample> read_hellaswag_text(const std::string& path) {
  std::vector<std::string> lines = file_lines(path);
  SLIM_CHECK(!lines.empty(), "{}: the file is empty", path);
  if (lines.size() % 6 != 0)
    fail("{}:{}: incomplete task: expected 6 lines per task (context, gold label 0-3, 4 endings), the file has {}",
         path, lines.size() / 6 * 6 + 1, lines.size());
  std::vector<McExample> out;
  for (size_t i = 0; i < lines.size(); i += 6) {
    std::string_view l = py_strip(lines[i + 1]);
    SLIM_CHECK(l.size() == 1 && l[0] >= '0' && l[0] <= '3', "{}:{}: expected the gold ending index 0-3, got \"{}\"",
               path, i + 2, lines[i + 1]);
    McExample e;
    e.context = lines[i];
    for (int k = 0; k < 4; ++k) {
      SLIM_CHECK(!is_blank(lines[i + 2 + size_t(k)]), "{}:{}: ending {} is empty: it would score 0 and always win",
                 path, i + 3 + size_t(k), k);
      e.continuations.push_back(delim(lines[i + 2 + size_t(k)]));
    }
    e.label = l[0] - '0';
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<McExample> read_hellaswag(const std::string& path) {
  bool text_form = path.ends_with(".txt");
  if (!text_form && !path.ends_with(".jsonl") && !path.ends_with(".json")) {
    std::vector<std::string> lines = file_lines(path);
    text_form = !lines.empty() && !py_strip(lines[0]).starts_with("{");
  }
  if (text_form) return read_hellaswag_text(path);
  // lm_eval/tasks/hellaswag/utils.py process_docs (v0.3 hellaswag.py _process_doc):
  //   ctx   = ctx_a + " " + ctx_b.capitalize()
  //   query = preprocess(activity_label + ": " + ctx)
  //   choices = [preprocess(ending) for ending in endings]
  std::vector<McExample> out;
  for_each_jsonl(path, [&](const json& j) {
    std::vector<std::string> endings = str_array(field(j, "endings"), "endings");
    SLIM_CHECK(endings.size() >= 2, "expected at least 2 endings, got {}", endings.size());
    const std::string ctx = str_field(j, "ctx_a") + " " + py_capitalize(str_field(j, "ctx_b"));
    McExample e;
    e.context = hellaswag_preprocess(str_field(j, "activity_label") + ": " + ctx);
    for (const auto& x : endings) e.continuations.push_back(delim(hellaswag_preprocess(x)));
    e.label = int_label(j, "label", int(endings.size()));
    out.push_back(std::move(e));
  });
  return out;
}

std::vector<McExample> read_winogrande(const std::string& jsonl) {
  // lm_eval/tasks/winogrande/preprocess_winogrande.py (v0.3 winogrande.py
  // partial_context / partial_target): the sentence is cut at its first "_";
  //   context_i    = sentence[:idx] + option_i
  //   continuation = " " + sentence[idx+1:].strip()
  // and only the continuation is scored ("partial evaluation"), so both
  // choices score the same tokens under different contexts.
  std::vector<McExample> out;
  for_each_jsonl(jsonl, [&](const json& j) {
    const std::string s = str_field(j, "sentence");
    const size_t idx = s.find('_');
    SLIM_CHECK(idx != std::string::npos, "the sentence has no \"_\" blank: \"{}\"", s);
    McExample e;
    const int label = int_label(j, "answer", 3);  // "1" / "2"
    SLIM_CHECK(label >= 1, "field \"answer\" should be \"1\" or \"2\"");
    e.label = label - 1;
    e.choice_contexts = {s.substr(0, idx) + str_field(j, "option1"), s.substr(0, idx) + str_field(j, "option2")};
    const std::string cont = delim(py_strip(std::string_view(s).substr(idx + 1)));
    e.continuations = {cont, cont};
    out.push_back(std::move(e));
  });
  return out;
}

}  // namespace slim
