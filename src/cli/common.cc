#include "cli/common.h"

#include <cblas.h>
#include <omp.h>

#include <cstdlib>
#include <filesystem>

#include "io/tokenizer.h"
#include "util/error.h"
#include "util/files.h"
#include "util/startup_env.h"

namespace slim::cli {

namespace {
std::string g_cmdline;
bool g_options_only = false;
}

void set_options_only(bool on) { g_options_only = on; }
bool options_only() { return g_options_only; }

void add_model_options(CLI::App* cmd, ModelArgs& a) {
  cmd->add_option("-m,--model", a.model,
                  "llama2.c .bin, Hugging Face directory, or a known name (stories260K: found in $SLIM_MODELS, "
                  "../shared/data/models or the cache, else downloaded)")
      ->capture_default_str();
  cmd->add_option("-t,--tokenizer", a.tokenizer,
                  "tokenizer file (.bin llama2.c, .model SentencePiece, .json HF, vocab.json with merges.txt "
                  "beside it: GPT-2/OPT) or a directory holding one; default: beside the model");
}

void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "worker threads (default: all cores)");
}

void check_threads(int threads) {
  SLIM_CHECK(threads >= 0 && threads <= kMaxThreads, "--threads must be in 0..{} (0 = all cores), got {}",
             kMaxThreads, threads);
}

void apply_threads(int threads) {
  check_threads(threads);
  if (threads == 0) return;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

bool threads_fixed_by_user(int threads) {
  return threads != 0 || env_set(std::getenv("OMP_NUM_THREADS"));
}

void write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  write_file_atomic(path, j.dump(2) + "\n");
}

std::string read_text(const std::string& path) {
  SLIM_CHECK(!path.empty(), "--text is required");
  std::string s = read_file(path);
  SLIM_CHECK(!s.empty(), "{}: the text file is empty", path);
  return s;
}

void set_command_line(int argc, char** argv) {
  g_cmdline.clear();
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool quote = a.find_first_of(" \t\"'") != std::string::npos || a.empty();
    g_cmdline += (i ? " " : "") + (quote ? "'" + a + "'" : a);
  }
}

std::string command_line() { return g_cmdline; }

// Copies the tokenizer next to the weights under the name the loader looks for
// (with the config files that carry its special tokens).
void copy_tokenizer(const ResolvedModel& r, const std::string& dir) {
  namespace fs = std::filesystem;
  std::string src = r.tokenizer_path;
  if (!src.empty() && dir_exists(src))
    src = find_tokenizer_file(src, false);
  else if (src.empty() && dir_exists(r.model_path))
    src = find_tokenizer_file(r.model_path, true);
  if (src.empty()) return;
  const fs::path from(src), to(dir);
  auto copy_beside = [&](const char* name) {
    if (fs::exists(from.parent_path() / name))
      fs::copy_file(from.parent_path() / name, to / name, fs::copy_options::overwrite_existing);
  };
  if (from.filename() == "vocab.json") {  // GPT-2 files: the pair plus its special tokens
    fs::copy_file(from, to / "vocab.json", fs::copy_options::overwrite_existing);
    for (const char* n : {"merges.txt", "special_tokens_map.json", "tokenizer_config.json"}) copy_beside(n);
    return;
  }
  const std::string ext = from.extension().string();
  const std::string name = ext == ".json" ? "tokenizer.json" : ext == ".model" ? "tokenizer.model" : "tokenizer.bin";
  fs::copy_file(from, to / name, fs::copy_options::overwrite_existing);
  if (ext == ".json") copy_beside("tokenizer_config.json");
}

}  // namespace slim::cli
