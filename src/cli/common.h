// Shared pieces of the command-line tool: model options, threads, JSON output.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "io/model_source.h"

namespace slim::cli {

struct ModelArgs {
  std::string model = "stories260K";
  std::string tokenizer;
};

// --model/-m and --tokenizer/-t.
void add_model_options(CLI::App* cmd, ModelArgs& a);
// --threads N (default: all cores); applied by apply_threads().
void add_threads_option(CLI::App* cmd, int& threads);
// --threads must be 0 (all cores) or 1..kMaxThreads: a huge count would make the
// OpenMP runtime try to start that many threads at the first parallel loop.
inline constexpr int kMaxThreads = 1024;
void check_threads(int threads);
void apply_threads(int threads);
// --threads N > 0 or OMP_NUM_THREADS: the user chose the count (decode then
// keeps it; LoadAdaptiveThreads, util/cpu_load.h).
bool threads_fixed_by_user(int threads);

// Options-only mode (the CLI fuzz target fuzz/fuzz_cli.cc and tests/cli_options_test.cc):
// every command checks its options, as a real run does first, and then returns before it
// resolves a model or opens a file.
void set_options_only(bool on);
bool options_only();

// Writes `j` to `path` atomically (pretty-printed), or does nothing if empty.
void write_json(const std::string& path, const nlohmann::json& j);

// Reads a text file for tokenization; refuses empty or invalid-path input.
std::string read_text(const std::string& path);

// The exact command line, for reports.
std::string command_line();

// Copies the model's tokenizer into `dir` under the name the loader looks for.
void copy_tokenizer(const ResolvedModel& r, const std::string& dir);
void set_command_line(int argc, char** argv);

}  // namespace slim::cli
