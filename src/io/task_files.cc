// The task registry: which reader a task uses and the file names it is looked
// up under. The names are those of the public releases (and their common
// re-exports), tried in order; the split is the one lm-evaluation-harness
// reports: PIQA, BoolQ, HellaSwag and WinoGrande validation, ARC test (the
// ARC *-Dev files are accepted after the test files).
#include <fmt/format.h>

#include <filesystem>
#include <functional>

#include "io/tasks.h"
#include "util/error.h"

namespace slim {

namespace {

struct TaskEntry {
  const char* name;
  std::vector<std::string> files;
  std::function<std::vector<McExample>(const std::string&)> read;
};

// PIQA's labels sit beside the questions: "X.jsonl" -> "X-labels.lst". Without
// that file the jsonl must carry a "label" field.
std::vector<McExample> read_piqa_auto(const std::string& path) {
  std::string labels = path;
  if (labels.ends_with(".jsonl")) labels.resize(labels.size() - 6);
  labels += "-labels.lst";
  return read_piqa(path, std::filesystem::exists(labels) ? labels : "");
}

std::vector<std::string> arc_files(const std::string& kind, const std::string& lower) {
  // kind "Easy"/"Challenge"; lower "easy"/"challenge".
  return {"ARC-" + kind + "-Test.jsonl",
          "ARC-" + kind + "/ARC-" + kind + "-Test.jsonl",
          "arc_" + lower + "_test.jsonl",
          "ARC-" + kind + "-Dev.jsonl",
          "ARC-" + kind + "/ARC-" + kind + "-Dev.jsonl",
          "arc_" + lower + ".jsonl",
          "arc_" + lower + "_validation.jsonl"};
}

const std::vector<TaskEntry>& registry() {
  static const std::vector<TaskEntry> r = {
      {"piqa",
       {"piqa_valid.jsonl", "piqa/valid.jsonl", "valid.jsonl", "piqa_validation.jsonl", "piqa.jsonl"},
       read_piqa_auto},
      {"arc_easy", arc_files("Easy", "easy"), read_arc},
      {"arc_challenge", arc_files("Challenge", "challenge"), read_arc},
      {"boolq",
       {"boolq_dev.jsonl", "boolq/dev.jsonl", "BoolQ/dev.jsonl", "boolq_validation.jsonl", "boolq.jsonl"},
       read_boolq},
      {"hellaswag",
       {"hellaswag_val.jsonl", "hellaswag/hellaswag_val.jsonl", "hellaswag_validation.jsonl", "hellaswag.jsonl",
        "hellaswag_val_full.txt", "hellaswag/hellaswag_val_full.txt"},
       read_hellaswag},
      {"winogrande",
       {"winogrande_dev.jsonl", "winogrande_1.1/dev.jsonl", "winogrande/dev.jsonl", "winogrande_validation.jsonl",
        "winogrande.jsonl"},
       read_winogrande},
  };
  return r;
}

const TaskEntry& entry(const std::string& task) {
  for (const auto& e : registry())
    if (task == e.name) return e;
  std::string names;
  for (const auto& n : known_tasks()) names += (names.empty() ? "" : ", ") + n;
  fail("unknown task \"{}\" (known: {})", task, names);
}

}  // namespace

const std::vector<std::string>& known_tasks() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& e : registry()) v.push_back(e.name);
    return v;
  }();
  return names;
}

std::vector<std::string> task_file_candidates(const std::string& task) { return entry(task).files; }

std::string task_files_help() {
  std::string s = "Task files, looked up under --data-dir in this order:\n";
  for (const auto& e : registry()) {
    s += fmt::format("  {:<14}", e.name);
    for (size_t i = 0; i < e.files.size(); ++i) s += (i ? ", " : "") + e.files[i];
    s += "\n";
  }
  s += "  PIQA labels: X-labels.lst beside X.jsonl (else a \"label\" field per line).\n";
  s += "  HellaSwag: the official jsonl or llama.cpp's 6-line text form (.txt).";
  return s;
}

TaskData load_task(const std::string& task, const std::string& data_dir) {
  const TaskEntry& e = entry(task);
  for (const auto& f : e.files) {
    const std::filesystem::path p = std::filesystem::path(data_dir) / f;
    if (std::filesystem::is_regular_file(p)) return {task, p.string(), e.read(p.string())};
  }
  std::string tried;
  for (const auto& f : e.files) tried += (tried.empty() ? "" : ", ") + f;
  fail("task {}: no data file in {} (looked for: {})", task, data_dir, tried);
}

}  // namespace slim
