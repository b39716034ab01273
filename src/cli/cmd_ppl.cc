// slim ppl: perplexity on a text file, GPTQ protocol (see eval/perplexity.h).
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/perplexity.h"
#include "io/model_source.h"

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
  apply_threads(a.threads);
  LoadedModel lm = open_model(a.model.model, a.model.tokenizer);
  std::vector<int> tokens = lm.tokenizer->encode(read_text(a.text), /*add_bos=*/true);
  PplOptions opt;
  opt.seqlen = a.seqlen;
  opt.max_chunks = a.max_chunks;
  PplResult r = perplexity(lm.model, tokens, opt);
  fmt::print("{:<12} {:>10} {:>8} {:>8} {:>10} {:>10}\n", "text", "tokens", "seqlen", "chunks", "ppl", "seconds");
  fmt::print("{:<12} {:>10} {:>8} {:>8} {:>10.4f} {:>10.2f}\n",
             std::filesystem::path(a.text).filename().string().substr(0, 12), r.tokens, r.seqlen, r.chunks, r.ppl,
             r.seconds);
  write_json(a.json, {{"ppl", r.ppl},
                      {"mean_nll", r.mean_nll},
                      {"tokens", r.tokens},
                      {"chunks", r.chunks},
                      {"seqlen", r.seqlen},
                      {"seconds", r.seconds},
                      {"tokens_per_second", double(r.chunks) * r.seqlen / r.seconds},
                      {"model", lm.paths.model_path},
                      {"text", a.text},
                      {"chunk_nll", r.chunk_nll},
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
