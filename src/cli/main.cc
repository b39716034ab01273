// slim: the command-line tool. One file per command (cmd_*.cc); each adds its
// subcommand here. Errors from any layer arrive as slim::Error and end the
// program with a one-line message and exit code 1.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "dist/comm.h"
#include "pack/packed_linear.h"
#include "util/memory.h"
#include "pack/cpu_target.h"
#include "util/error.h"
#include "util/startup_env.h"

namespace {

// Under mpirun only rank 0 speaks: the other ranks' stdout and stderr go to
// /dev/null, and their errors to the saved stderr, prefixed with the rank.
int g_error_fd = 2;

void silence_other_ranks() {
  if (slim::dist::is_root()) return;
  g_error_fd = ::dup(2);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0 || g_error_fd < 0) return;
  ::dup2(null, 1);
  ::dup2(null, 2);
  ::close(null);
}

// Prints the error and ends the program; with several ranks it ends all of
// them (the others would wait in a collective forever).
int report_error(const char* what) {
  const std::string where = slim::dist::describe();
  const std::string line =
      where.empty() ? fmt::format("error: {}\n", what) : fmt::format("error ({}): {}\n", where, what);
  if (::write(g_error_fd, line.data(), line.size()) < 0) {
  }
  if (slim::dist::size() > 1) slim::dist::abort(1);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  slim::reexec_with_startup_env(argv);  // first: before MPI or any thread starts
  slim::dist::init(&argc, &argv);
  silence_other_ranks();
  slim::cli::set_command_line(argc, argv);
  spdlog::set_default_logger(spdlog::stderr_color_mt("slim"));
  spdlog::set_pattern("[%H:%M:%S] %v");
  CLI::App app{"slim-llm " SLIM_VERSION
               ": post-training quantization of LLMs to 1-4 bits (SliM-LLM, GPTQ, RTN), CPU-only"};
  app.require_subcommand(1);
  // "0.1.0 (Open MPI)" or "0.1.0 (single-process)": scripts and tests read which build this is.
  app.set_version_flag("--version", std::string(SLIM_VERSION) +
                                        (slim::dist::built_with_mpi() ? " (Open MPI)" : " (single-process)"));
  for (auto add : slim::cli::all_commands()) add(app);
  int rc = 0;
  const slim::AnonymousMemorySampler memory_sampler;  // the reports' peak anonymous memory
  try {
    slim::select_cpu_target_from_env();  // SLIM_CPU_TARGET=avx2 etc.: before parse, the commands run inside it
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    rc = app.exit(e);
  } catch (const slim::Error& e) {
    rc = report_error(e.what());
  } catch (const std::bad_alloc&) {
    rc = report_error("out of memory");
  } catch (const std::exception& e) {
    rc = report_error(e.what());
  }
  slim::dist::finalize();
  return rc;
}
