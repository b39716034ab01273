#include "io/model_source.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "io/hf_checkpoint.h"
#include "io/llama2c_checkpoint.h"
#include "pack/packed_model.h"
#include "util/error.h"
#include "util/files.h"

namespace slim {
namespace fs = std::filesystem;

namespace {

// Known models that can be fetched by name (a table row per model).
struct KnownModel {
  const char* name;
  const char* model_file;
  const char* tokenizer_file;
  const char* hub_base;  // URL prefix of both files
};
constexpr KnownModel kKnown[] = {
    {"stories260K", "stories260K.bin", "tok512.bin",
     "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/"},
};

std::string exe_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

std::string cache_dir() {
  if (const char* x = std::getenv("SLIM_CACHE")) return x;
  if (const char* x = std::getenv("XDG_CACHE_HOME")) return std::string(x) + "/slim-llm/models";
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.cache/slim-llm/models";
  return ".slim-cache/models";
}

std::vector<std::string> search_dirs() {
  std::vector<std::string> dirs;
  if (const char* x = std::getenv("SLIM_MODELS")) dirs.push_back(x);
  if (const char* x = std::getenv("SLIM_SHARED")) dirs.push_back(std::string(x) + "/data/models");
  dirs.push_back("../shared/data/models");
  std::string e = exe_dir();  // build/slim -> <root>/../shared
  if (!e.empty()) dirs.push_back(e + "/../../shared/data/models");
  dirs.push_back(cache_dir());
  return dirs;
}

// curl is used as a program (not linked): present on every Debian machine with
// network access, absent offline, where we fail with instructions instead.
bool fetch(const std::string& url, const std::string& dest) {
  std::string tmp = dest + ".part";
  pid_t pid = fork();
  if (pid == 0) {
    execlp("curl", "curl", "-fsSL", "--retry", "2", "--connect-timeout", "15", "-o", tmp.c_str(), url.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return false;
  }
  std::error_code ec;
  fs::rename(tmp, dest, ec);
  return !ec;
}

ResolvedModel resolve_known(const KnownModel& k, const std::string& tokenizer_arg) {
  for (const auto& d : search_dirs()) {
    std::string m = d + "/" + k.model_file, t = d + "/" + k.tokenizer_file;
    if (file_exists(m) && (file_exists(t) || !tokenizer_arg.empty()))
      return {fs::weakly_canonical(m).string(), tokenizer_arg.empty() ? fs::weakly_canonical(t).string() : tokenizer_arg};
  }
  std::string cache = cache_dir();
  std::error_code ec;
  fs::create_directories(cache, ec);
  std::string m = cache + "/" + k.model_file, t = cache + "/" + k.tokenizer_file;
  spdlog::info("model '{}' not found locally; downloading into {}", k.name, cache);
  bool ok = !ec && (file_exists(m) || fetch(std::string(k.hub_base) + k.model_file, m)) &&
            (file_exists(t) || fetch(std::string(k.hub_base) + k.tokenizer_file, t));
  if (!ok) {
    std::string where;
    for (const auto& d : search_dirs()) where += "\n  " + d;
    fail("model '{}' is not available locally and could not be downloaded.\n"
         "Fetch these two files:\n  {}{}\n  {}{}\nand put them in $SLIM_MODELS or in one of:{}",
         k.name, k.hub_base, k.model_file, k.hub_base, k.tokenizer_file, where);
  }
  return {m, tokenizer_arg.empty() ? t : tokenizer_arg};
}

}  // namespace

ResolvedModel resolve_model(const std::string& model_arg, const std::string& tokenizer_arg) {
  if (!fs::exists(model_arg)) {
    for (const auto& k : kKnown)
      if (model_arg == k.name) return resolve_known(k, tokenizer_arg);
    fail("{}: no such file or directory (and not a known model name: {})", model_arg, kKnown[0].name);
  }
  return {model_arg, tokenizer_arg};
}

Model load_model(const std::string& path) {
  if (dir_exists(path)) return is_packed_model_dir(path) ? load_packed_model(path) : load_hf_model(path);
  return load_llama2c(path);
}

std::unique_ptr<Tokenizer> load_model_tokenizer(const ResolvedModel& r, const ModelConfig& c) {
  if (!r.tokenizer_path.empty()) return load_tokenizer(r.tokenizer_path, c.vocab_size);
  if (dir_exists(r.model_path)) {
    if (const std::string p = find_tokenizer_file(r.model_path, true); !p.empty())
      return load_tokenizer(p, c.vocab_size);
    fail("{}: no tokenizer.json, vocab.json + merges.txt, tokenizer.model or tokenizer.bin in the model "
         "directory; pass --tokenizer",
         r.model_path);
  }
  fail("{}: a llama2.c checkpoint has no tokenizer inside; pass --tokenizer (e.g. tok512.bin for stories260K)",
       r.model_path);
}

LoadedModel open_model(const std::string& model_arg, const std::string& tokenizer_arg, bool need_tokenizer) {
  LoadedModel lm;
  lm.paths = resolve_model(model_arg, tokenizer_arg);
  lm.model = load_model(lm.paths.model_path);
  if (need_tokenizer) {
    lm.tokenizer = load_model_tokenizer(lm.paths, lm.model.config);
    SLIM_CHECK(lm.tokenizer->vocab_size() <= lm.model.config.vocab_size,
               "{}: tokenizer has {} tokens but the model's vocabulary is {}",
               lm.paths.tokenizer_path.empty() ? lm.paths.model_path : lm.paths.tokenizer_path,
               lm.tokenizer->vocab_size(), lm.model.config.vocab_size);
    // The tokenizer knows BOS/EOS best; fill in what config.json left out.
    if (lm.model.config.bos_id < 0) lm.model.config.bos_id = lm.tokenizer->bos_id();
    if (lm.model.config.eos_id < 0) lm.model.config.eos_id = lm.tokenizer->eos_id();
  }
  return lm;
}

}  // namespace slim
