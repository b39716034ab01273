// The registry of subcommands: adding a command is adding a row.
#pragma once
#include <CLI/CLI.hpp>
#include <vector>

namespace slim::cli {

void add_inspect(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_generate(CLI::App& app);
void add_ppl(CLI::App& app);
void add_quantize(CLI::App& app);
void add_eval(CLI::App& app);
void add_report(CLI::App& app);
void add_pack(CLI::App& app);

inline std::vector<void (*)(CLI::App&)> all_commands() {
  return {add_inspect, add_tokenize, add_generate, add_ppl, add_quantize, add_pack, add_eval, add_report};
}

}  // namespace slim::cli
