// slim ppl: perplexity on a text file, GPTQ protocol (see eval/perplexity.h).
#include <fmt/format.h>

#include <omp.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/perplexity.h"
#include "io/model_source.h"
#include "io/text_prefix.h"
#include "util/error.h"
#include "util/memory.h"

namespace slim::cli {

namespace {
struct PplArgs {
  ModelArgs model;
  std::string text;
  int seqlen = 2048;
  int max_chunks = -1;
  int threads = 0;
  std::string json;
};

void run(const PplArgs& a) {
  check_threads(a.threads);
  SLIM_CHECK(!a.text.empty(), "--text is required");
  SLIM_CHECK(a.seqlen >= 2, "--seqlen must be at least 2, got {}", a.seqlen);
  SLIM_CHECK(a.max_chunks == -1 || a.max_chunks > 0, "--max-chunks must be positive (or -1: all), got {}",
             a.max_chunks);
  if (options_only()) return;
  apply_threads(a.threads);
  SLIM_CHECK(!std::filesystem::is_directory(a.text), "--text {}: is a directory, expected a text file", a.text);
  LoadedModel lm = open_model(a.model.model, a.model.tokenizer);
  const ModelConfig& c = lm.model.config;
  SLIM_CHECK(a.seqlen >= 2 && a.seqlen <= c.max_seq_len, "--seqlen must be in 2..{} (the model's context), got {}",
             c.max_seq_len, a.seqlen);
  MemoryNeed need = perplexity_memory(c, a.seqlen, omp_get_max_threads());
  std::error_code ec;
  const int64_t text_bytes = int64_t(std::filesystem::file_size(a.text, ec));
  if (!ec && a.max_chunks < 0) need.add("text and its tokens", text_bytes * (1 + 4));
  require_memory(need, "slim ppl", "lower --seqlen or --threads");
  // With --max-chunks only a prefix of the text is read and tokenized.
  std::vector<int> tokens;
  if (a.max_chunks > 0) {
    tokens = encode_text_prefix(*lm.tokenizer, a.text, size_t(a.max_chunks) * size_t(a.seqlen), /*add_bos=*/true).tokens;
    SLIM_CHECK(!tokens.empty(), "{}: the text file is empty", a.text);
  } else {
    tokens = lm.tokenizer->encode(read_text(a.text), /*add_bos=*/true);
  }
  PplOptions opt;
  opt.seqlen = a.seqlen;
  opt.max_chunks = a.max_chunks;
  PplResult r = perplexity(lm.model, tokens, opt);
  fmt::print("{:<12} {:>10} {:>8} {:>8} {:>10} {:>10}\n", "text", "tokens", "seqlen", "chunks", "ppl", "seconds");
  fmt::print("{:<12} {:>10} {:>8} {:>8} {:>10.4f} {:>10.2f}\n",
             std::filesystem::path(a.text).filename().string().substr(0, 12), r.tokens, r.seqlen, r.chunks, r.ppl,
             r.seconds);
  fmt::print(stderr, "peak RSS {:.2f} GiB (mapped model pages included), anonymous {:.2f} GiB\n",
             double(peak_rss_bytes()) / (1 << 30), double(sampled_peak_anonymous_bytes()) / (1 << 30));
  write_json(a.json, {{"ppl", r.ppl},
                      {"mean_nll", r.mean_nll},
                      {"tokens", r.tokens},
                      {"chunks", r.chunks},
                      {"seqlen", r.seqlen},
                      {"seconds", r.seconds},
                      {"tokens_per_second", double(r.chunks) * r.seqlen / r.seconds},
                      {"model", lm.paths.model_path},
                      {"text", a.text},
                      {"text_prefix_only", a.max_chunks > 0},  // --max-chunks: "tokens" counts the prefix read
                      {"chunk_nll", r.chunk_nll},
                      {"peak_rss_bytes", peak_rss_bytes()},
                      {"peak_anonymous_bytes_sampled", sampled_peak_anonymous_bytes()},
                      {"command", command_line()}});
}
}  // namespace

void add_ppl(CLI::App& app) {
  auto a = std::make_shared<PplArgs>();
  auto* cmd = app.add_subcommand("ppl", "perplexity of a text (GPTQ protocol: non-overlapping chunks)");
  add_model_options(cmd, a->model);
  cmd->add_option("--text", a->text, "text file")->required();
  cmd->add_option("--seqlen", a->seqlen, "chunk length in tokens")->capture_default_str();
  cmd->add_option("--max-chunks", a->max_chunks, "evaluate at most this many chunks");
  cmd->add_option("--json", a->json, "write the result as JSON to this file");
  add_threads_option(cmd, a->threads);
  cmd->callback([a] { run(*a); });
}

}  // namespace slim::cli
