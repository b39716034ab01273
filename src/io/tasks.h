// Zero-shot multiple-choice task files: PIQA, ARC (Easy/Challenge), BoolQ,
// HellaSwag and WinoGrande, read from their public release formats and turned
// into one uniform example type with the prompts of EleutherAI's
// lm-evaluation-harness, so `slim eval` numbers sit next to published ones.
//
// Template sources (lm-eval v0.4 task files; v0.3 equivalents agree unless a
// comment at the reader says otherwise):
//   piqa        lm_eval/tasks/piqa/piqa.yaml
//   arc_*       lm_eval/tasks/arc/arc_easy.yaml (arc_challenge.yaml includes it)
//   boolq       lm_eval/tasks/super_glue/boolq/default.yaml
//   hellaswag   lm_eval/tasks/hellaswag/hellaswag.yaml + utils.py
//   winogrande  lm_eval/tasks/winogrande/default.yaml + preprocess_winogrande.py
// Every continuation starts with lm-eval's target_delimiter " ".
//
// Malformed input is a slim::Error of the form "FILE:LINE: problem".
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace slim {

struct McExample {
  std::string context;                     // shared by every choice
  std::vector<std::string> continuations;  // one per choice, each starting with " "
  int label = 0;                           // index of the gold continuation
  // WinoGrande only (lm-eval's "multiple input" tasks): one context per choice,
  // used instead of `context`; the continuation is then the same for all.
  std::vector<std::string> choice_contexts;

  const std::string& context_for(size_t choice) const {
    return choice_contexts.empty() ? context : choice_contexts[choice];
  }
};

// PIQA: jsonl {goal, sol1, sol2} plus a labels file with one 0/1 per line (the
// official release). With labels_lst empty, each line must carry "label"
// (Hugging Face export). "Question: {goal}\nAnswer:" + " {sol}".
std::vector<McExample> read_piqa(const std::string& jsonl, const std::string& labels_lst);

// ARC, AI2 jsonl {"question": {"stem", "choices": [{"text","label"}]}, "answerKey"}
// or the Hugging Face layout {"question": str, "choices": {"text": [], "label": []}, "answerKey"}.
// Labels may be A-E or 1-5. "Question: {q}\nAnswer:" + " {choice}".
std::vector<McExample> read_arc(const std::string& jsonl);

// BoolQ jsonl {question, passage, answer: bool} (or SuperGLUE's "label": 0/1).
// "{passage}\nQuestion: {question}?\nAnswer:" + [" no", " yes"].
std::vector<McExample> read_boolq(const std::string& jsonl);

// HellaSwag: the official jsonl {activity_label, ctx_a, ctx_b, endings, label},
// or llama.cpp's plain-text form (hellaswag_val_full.txt): 6 lines per task --
// the already preprocessed context, the gold label (0-3), then the 4 endings.
// A .txt name (or a first line that is not JSON) selects the text form.
std::vector<McExample> read_hellaswag(const std::string& path);

// WinoGrande jsonl {sentence with one "_", option1, option2, answer "1"/"2"}:
// partial scoring, see read_winogrande in tasks.cc.
std::vector<McExample> read_winogrande(const std::string& jsonl);

// lm-eval's hellaswag preprocess(): strip, " [title]" -> ". ", drop [bracketed]
// spans, then one pass of "  " -> " ".
std::string hellaswag_preprocess(std::string_view text);
// Python's str.capitalize() on ASCII: first character upper-case, the rest
// lower-case (non-ASCII bytes are left unchanged).
std::string py_capitalize(std::string_view text);

// --- the task registry: names and where their files are looked up ----------

// piqa, arc_easy, arc_challenge, boolq, hellaswag, winogrande.
const std::vector<std::string>& known_tasks();

// The file names tried for `task` under a data directory, in order.
std::vector<std::string> task_file_candidates(const std::string& task);

// Multi-line help text listing every task and its accepted file names.
std::string task_files_help();

struct TaskData {
  std::string task;
  std::string file;  // the data file that was read
  std::vector<McExample> examples;
};

// Finds and reads the file of `task` in `data_dir` (the first candidate that
// exists). Unknown task or no file: an error that lists what was looked for.
TaskData load_task(const std::string& task, const std::string& data_dir);

}  // namespace slim
