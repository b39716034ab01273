// slim tokenize: token ids of a text file, whitespace-separated.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/model_source.h"

namespace slim::cli {

namespace {
struct TokenizeArgs {
  ModelArgs model;
  std::string text;
  bool no_bos = false;
  bool pieces = false;
};

void run(const TokenizeArgs& a) {
  if (options_only()) return;
  ResolvedModel r = resolve_model(a.model.model, a.model.tokenizer);
  Model m = load_model(r.model_path);
  auto tok = load_model_tokenizer(r, m.config);
  auto ids = tok->encode(read_text(a.text), !a.no_bos);
  std::string out;
  out.reserve(ids.size() * 6);
  for (size_t i = 0; i < ids.size(); ++i) {
    out += i ? " " : "";
    out += a.pieces ? fmt::format("{}:{}", ids[i], tok->piece(ids[i])) : std::to_string(ids[i]);
  }
  fmt::print("{}\n", out);
  fmt::print(stderr, "{} tokens\n", ids.size());
}
}  // namespace

void add_tokenize(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "print the token ids of a text file (BOS first, as `slim ppl` sees it)");
  add_model_options(cmd, a->model);
  cmd->add_option("--text", a->text, "text file")->required();
  cmd->add_flag("--no-bos", a->no_bos, "do not prepend BOS");
  cmd->add_flag("--pieces", a->pieces, "print id:piece pairs");
  cmd->callback([a] { run(*a); });
}

}  // namespace slim::cli
