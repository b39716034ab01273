// slim eval: zero-shot multiple-choice accuracy (lm-evaluation-harness
// prompts and metrics; see eval/zeroshot.h and io/tasks.h).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/zeroshot.h"
#include "io/model_source.h"
#include "io/tasks.h"
#include "util/error.h"

namespace slim::cli {

namespace {
struct EvalArgs {
  ModelArgs model;
  std::string tasks;
  std::string data_dir;
  int limit = -1;
  int max_len = 0;
  bool no_bos = false;
  int threads = 0;
  std::string json;
};

std::vector<std::string> split_tasks(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string t = s.substr(start, end - start);
    t.erase(0, t.find_first_not_of(' '));
    t.erase(t.find_last_not_of(' ') + 1);
    if (!t.empty() && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    start = end + 1;
  }
  SLIM_CHECK(!out.empty(), "--tasks is empty");
  return out;
}

void run(const EvalArgs& a) {
  check_threads(a.threads);
  SLIM_CHECK(a.limit == -1 || a.limit >= 1, "--limit must be positive (or -1: every example), got {}", a.limit);
  SLIM_CHECK(a.max_len >= 0, "--max-len must be >= 0 (0 = the model's context), got {}", a.max_len);
  const std::vector<std::string> tasks = split_tasks(a.tasks);
  for (const auto& t : tasks) {
    const auto& known = known_tasks();
    if (std::find(known.begin(), known.end(), t) != known.end()) continue;
    std::string names;
    for (const auto& n : known) names += (names.empty() ? "" : ", ") + n;
    fail("--tasks: unknown task \"{}\" (known: {})", t, names);
  }
  if (options_only()) return;
  apply_threads(a.threads);
  SLIM_CHECK(std::filesystem::is_directory(a.data_dir), "--data-dir {}: not a directory", a.data_dir);
  // Every task file is read before any scoring, so a missing or malformed
  // file fails in seconds, not after an hour of the first task.
  std::vector<TaskData> data;
  for (const auto& t : tasks) data.push_back(load_task(t, a.data_dir));
  LoadedModel lm = open_model(a.model.model, a.model.tokenizer);

  ZeroShotOptions opt;
  opt.limit = a.limit;
  opt.max_len = a.max_len;
  opt.add_bos = !a.no_bos;
  nlohmann::json results = nlohmann::json::object();
  std::vector<std::string> rows;
  for (const auto& d : data) {
    opt.label = d.task;
    McResult r = evaluate_mc(lm.model, *lm.tokenizer, d.examples, opt);
    rows.push_back(fmt::format("{:<14} {:>6} {:>17} {:>17} {:>11.1f}  {}", d.task, r.n,
                               fmt::format("{:.4f} ± {:.4f}", r.acc, r.acc_stderr),
                               fmt::format("{:.4f} ± {:.4f}", r.acc_norm, r.acc_norm_stderr), r.examples_per_second(),
                               std::filesystem::path(d.file).filename().string()));
    results[d.task] = {{"n", r.n},
                       {"acc", r.acc},
                       {"acc_stderr", r.acc_stderr},
                       {"acc_norm", r.acc_norm},
                       {"acc_norm_stderr", r.acc_norm_stderr},
                       {"seconds", r.seconds},
                       {"examples_per_second", r.examples_per_second()},
                       {"truncated_examples", r.truncated},
                       {"tokens_forwarded", r.tokens_forwarded},
                       {"tokens_without_prefix_sharing", r.tokens_unshared},
                       {"file", d.file}};
  }
  fmt::print("{:<14} {:>6} {:>17} {:>17} {:>11}  {}\n", "task", "n", "acc ± se", "acc_norm ± se", "examples/s", "file");
  for (const auto& row : rows) fmt::print("{}\n", row);
  write_json(a.json, {{"results", results},
                      {"model", lm.paths.model_path},
                      {"tokenizer", lm.tokenizer->kind()},
                      {"data_dir", a.data_dir},
                      {"limit", a.limit},
                      {"max_len",
                       a.max_len > 0 ? std::min(a.max_len, lm.model.config.max_seq_len) : lm.model.config.max_seq_len},
                      {"add_bos", !a.no_bos},
                      {"command", command_line()}});
}
}  // namespace

void add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "zero-shot multiple-choice accuracy (lm-evaluation-harness prompts)");
  add_model_options(cmd, a->model);
  std::string names;
  for (const auto& t : known_tasks()) names += (names.empty() ? "" : ",") + t;
  cmd->add_option("--tasks", a->tasks, "comma-separated tasks: " + names)->required();
  cmd->add_option("--data-dir", a->data_dir, "directory holding the task files (names below)")->required();
  cmd->add_option("--limit", a->limit, "score only the first N examples of each task");
  cmd->add_option("--max-len", a->max_len,
                  "context length in tokens (default: the model's); longer inputs are "
                  "cut from the left");
  cmd->add_flag("--no-bos", a->no_bos, "do not prepend BOS (lm-eval's HF default; changes scores)");
  cmd->add_option("--json", a->json, "write the results as JSON to this file");
  add_threads_option(cmd, a->threads);
  cmd->footer(task_files_help() +
              "\nPrompts, tokenization (_encode_pair) and metrics follow lm-evaluation-harness: acc = argmax of "
              "the summed continuation log-likelihood, acc_norm = argmax of it divided by the choice's length in "
              "characters, stderr = sqrt(p(1-p)/(n-1)). BOS is prepended unless --no-bos.");
  cmd->callback([a] { run(*a); });
}

}  // namespace slim::cli
