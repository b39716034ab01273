// slim: the command-line tool. One file per command (cmd_*.cc); each adds its
// subcommand here. Errors from any layer arrive as slim::Error and end the
// program with a one-line message and exit code 1.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "util/error.h"

int main(int argc, char** argv) {
  slim::cli::set_command_line(argc, argv);
  spdlog::set_default_logger(spdlog::stderr_color_mt("slim"));
  spdlog::set_pattern("[%H:%M:%S] %v");
  CLI::App app{"slim-llm " SLIM_VERSION
               ": post-training quantization of LLMs to 1-4 bits (SliM-LLM, GPTQ, RTN), CPU-only"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SLIM_VERSION);
  for (auto add : slim::cli::all_commands()) add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const slim::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
