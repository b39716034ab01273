// Tokenizer throughput on a text file, per tokenizer kind, next to a memory
// copy of the same bytes measured in the same run.
//
//   build/bench/bench_tokenize [--text FILE] [--reps N] TOKENIZER...
//
// Default: the WikiText-2 test split and the three 32k Llama-2 tokenizers
// (llama2.c .bin, SentencePiece .model) from $SLIM_SHARED or ../shared.
#include <fmt/format.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "io/tokenizer.h"
#include "util/error.h"
#include "util/files.h"

using namespace slim;

int main(int argc, char** argv) {
  const char* env = std::getenv("SLIM_SHARED");
  const std::string shared = env ? env : "../shared";
  std::string text_path = shared + "/data/text/wikitext2_test.txt";
  int reps = 2;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--text") && i + 1 < argc) text_path = argv[++i];
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else paths.push_back(argv[i]);
  }
  if (paths.empty())
    paths = {shared + "/data/models/tokenizer_llama2_32k.bin", shared + "/data/models/tokenizer_llama2_32k.model"};
  try {
    const std::string text = read_file(text_path);
    std::string copy(text.size(), '\0');
    const double t_copy = bench::best_time(reps * 5, [&] { std::memcpy(copy.data(), text.data(), text.size()); });
    fmt::print("{}: {} bytes; memcpy {:.0f} MB/s\n", text_path, text.size(), text.size() / t_copy / 1e6);
    fmt::print("{:<24} {:>10} {:>10} {:>12}\n", "tokenizer", "tokens", "seconds", "MB/s");
    for (const auto& p : paths) {
      auto tok = load_tokenizer(p, 32000);
      size_t n = 0;
      const double t = bench::best_time(reps, [&] { n = tok->encode(text, true).size(); });
      fmt::print("{:<24} {:>10} {:>10.3f} {:>12.2f}\n", tok->kind(), n, t, text.size() / t / 1e6);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
