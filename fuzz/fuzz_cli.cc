// libFuzzer target: the real command line (every subcommand, CLI11's parsing and conversion
// of the numeric options, then each command's own option checks) in options-only mode
// (cli/common.h): a command checks its options and returns before it resolves a model or
// opens a file. Input: the argv tokens after "slim", one per line ('\n'), at most 64.
// Expected refusals are CLI::ParseError (CLI11: unknown option, not a number, --help) and
// slim::Error (a value out of range); anything else escapes and is a finding.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  slim::cli::set_options_only(true);
  std::vector<std::string> tokens = {"slim"};
  const std::string_view text = slim_fuzz::as_text(data, size);
  size_t start = 0;
  while (start <= text.size() && tokens.size() <= 64) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    tokens.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  std::vector<const char*> argv;
  for (const auto& t : tokens) argv.push_back(t.c_str());
  CLI::App app{"slim"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fuzz");
  for (auto add : slim::cli::all_commands()) add(app);
  try {
    app.parse(int(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {
  } catch (const slim::Error&) {
  }
  return 0;
}
