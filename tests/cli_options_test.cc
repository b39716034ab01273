// The command line's option checks (cli/common.h options-only mode, as the CLI fuzz target
// fuzz/fuzz_cli.cc drives them): every command checks its numeric and named options before
// it loads a model, and refuses a bad one with an error naming the option and the value.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "calib/dataset.h"
#include "cli/common.h"
#include "quant/pipeline.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/error.h"

namespace slim {
namespace {

using test::expect_error;

// Parses `args` (after "slim") with every subcommand, in options-only mode.
void parse(std::vector<std::string> args) {
  cli::set_options_only(true);
  args.insert(args.begin(), "slim");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  CLI::App app{"slim"};
  app.require_subcommand(1);
  for (auto add : cli::all_commands()) add(app);
  app.parse(int(argv.size()), argv.data());
}

// Valid command lines pass without touching the (absent) model or files: the checks are
// the only thing options-only mode runs.
TEST(CliOptions, ValidCommandLinesPassWithoutLoadingAnything) {
  const std::string none = "/nonexistent/model";
  EXPECT_NO_THROW(parse({"generate", "-m", none, "--temperature", "0.8", "--top-p", "0.95", "-n", "0", "--threads", "2"}));
  EXPECT_NO_THROW(parse({"ppl", "-m", none, "--text", "/nonexistent.txt", "--seqlen", "2", "--max-chunks", "-1"}));
  EXPECT_NO_THROW(parse({"quantize", "-m", none, "--method", "rtn", "--bits", "2", "--group-size", "-1", "--pack",
                         "--head-bits", "4", "-o", "/nonexistent/out"}));
  EXPECT_NO_THROW(parse({"quantize", "-m", none, "--method", "slim+", "--bits", "3", "--calib", "c.txt", "--lwc-lr",
                         "0.005", "--sba-criterion", "obs", "--sba-scope", "model", "--sba-normalize", "none", "-o", "o"}));
  EXPECT_NO_THROW(parse({"eval", "-m", none, "--tasks", "arc_easy, piqa", "--data-dir", "/nonexistent", "--limit", "5"}));
  EXPECT_NO_THROW(parse({"pack", "-m", none, "--head-bits", "3", "--head-group-size", "-1", "-o", "o"}));
  EXPECT_NO_THROW(parse({"inspect", "-m", none}));
}

TEST(CliOptions, ThreadsAreBounded) {
  for (const char* cmd : {"generate", "ppl", "quantize", "eval"}) {
    // The extra options of the other commands are unknown to some: only the ones each takes.
    std::vector<std::string> line = {cmd, "--threads", "100000"};
    if (std::string(cmd) == "ppl") line.insert(line.end(), {"--text", "t"});
    if (std::string(cmd) == "quantize") line.insert(line.end(), {"-o", "o", "--method", "rtn"});
    if (std::string(cmd) == "eval") line.insert(line.end(), {"--tasks", "piqa", "--data-dir", "d"});
    expect_error([&] { parse(line); }, {"--threads", "0..1024", "100000"});
    line[2] = "-2";
    expect_error([&] { parse(line); }, {"--threads", "-2"});
  }
  // A real run (not options-only) refuses before the OpenMP runtime sees the count.
  expect_error([] { cli::apply_threads(2000000000); }, {"--threads", "2000000000"});
}

TEST(CliOptions, GenerateRefusesBadNumbers) {
  expect_error([] { parse({"generate", "--max-tokens", "-1"}); }, {"--max-tokens", "-1"});
  expect_error([] { parse({"generate", "--prompt-tokens", "-3"}); }, {"--prompt-tokens", "-3"});
  expect_error([] { parse({"generate", "--temperature", "nan"}); }, {"--temperature"});
  expect_error([] { parse({"generate", "--temperature", "-0.5"}); }, {"--temperature", "-0.5"});
  expect_error([] { parse({"generate", "--top-p", "0"}); }, {"--top-p", "(0, 1]"});
  expect_error([] { parse({"generate", "--top-p", "1.5"}); }, {"--top-p", "1.5"});
  // Not a number at all: CLI11's own conversion error.
  EXPECT_THROW(parse({"generate", "--max-tokens", "ten"}), CLI::ParseError);
  EXPECT_THROW(parse({"generate", "--max-tokens", "99999999999"}), CLI::ParseError);
}

TEST(CliOptions, PplRefusesBadNumbers) {
  expect_error([] { parse({"ppl", "--text", "t", "--seqlen", "1"}); }, {"--seqlen", "at least 2", "1"});
  expect_error([] { parse({"ppl", "--text", "t", "--max-chunks", "0"}); }, {"--max-chunks", "0"});
}

TEST(CliOptions, QuantizeRefusesBadOptionsBeforeLoadingTheModel) {
  auto q = [](std::vector<std::string> extra) {
    std::vector<std::string> v = {"quantize", "-m", "/nonexistent/model", "-o", "out", "--calib", "c.txt"};
    v.insert(v.end(), extra.begin(), extra.end());
    parse(v);
  };
  expect_error([&] { q({"--bits", "9"}); }, {"--bits", "1..8", "9"});
  expect_error([&] { q({"--group-size", "0"}); }, {"--group-size", "0"});
  expect_error([&] { q({"--method", "awq"}); }, {"--method", "awq"});
  expect_error([&] { q({"--method", "slim", "--bits", "1"}); }, {"--bits must be 2, 3 or 4"});
  expect_error([&] { q({"--nsamples", "0"}); }, {"--nsamples", "0"});
  expect_error([&] { q({"--seqlen", "1"}); }, {"--seqlen", "1"});
  expect_error([&] { q({"--damp", "nan"}); }, {"--damp"});
  expect_error([&] { q({"--damp", "-1"}); }, {"--damp", "-1"});
  expect_error([&] { q({"--method", "slim", "--sqc-lambda", "0"}); }, {"--sqc-lambda", "0"});
  expect_error([&] { q({"--method", "slim", "--sqc-p-min", "1.5"}); }, {"--sqc-p-min", "1.5"});
  expect_error([&] { q({"--method", "slim", "--sqc-binary-iters", "-1"}); }, {"--sqc-binary-iters", "-1"});
  expect_error([&] { q({"--method", "slim", "--sba-token-stride", "-4"}); }, {"--sba-token-stride", "-4"});
  expect_error([&] { q({"--method", "slim", "--sqc-refine", "some"}); }, {"--sqc-refine", "some"});
  expect_error([&] { q({"--method", "slim", "--sba-normalize", "outptu"}); }, {"--sba-normalize", "outptu"});
  expect_error([&] { q({"--method", "slim+", "--lwc-lr", "0"}); }, {"--lwc-lr", "0"});
  expect_error([&] { q({"--method", "slim+", "--lwc-batch", "0"}); }, {"--lwc-batch", "0"});
  expect_error([&] { q({"--method", "slim+", "--lwc-epochs", "-5"}); }, {"--lwc-epochs", "-5"});
  expect_error([&] { q({"--method", "slim+", "--lwc-init", "zero"}); }, {"--lwc-init", "zero"});
  expect_error([&] { q({"--method", "gptq", "--pack", "--act-order"}); }, {"--act-order needs --static-groups"});
  expect_error([&] { q({"--method", "rtn", "--head-bits", "4"}); }, {"--head-bits and --embed-bits need --pack"});
  expect_error([&] { q({"--method", "rtn", "--pack", "--embed-bits", "9"}); }, {"--embed-bits", "9"});
  expect_error([&] { q({"--method", "gptq", "--bitmap", "b.json"}); }, {"--bitmap applies to"});
  expect_error([] { parse({"quantize", "--method", "gptq", "-o", "out"}); }, {"--calib FILE is required"});
}

TEST(CliOptions, EvalAndPackRefuseBadNumbersAndNames) {
  auto e = [](std::vector<std::string> extra) {
    std::vector<std::string> v = {"eval", "--tasks", "piqa", "--data-dir", "/nonexistent"};
    v.insert(v.end(), extra.begin(), extra.end());
    parse(v);
  };
  expect_error([&] { e({"--limit", "0"}); }, {"--limit", "0"});
  expect_error([&] { e({"--max-len", "-5"}); }, {"--max-len", "-5"});
  expect_error([] { parse({"eval", "--tasks", "piqa,mmlu", "--data-dir", "d"}); }, {"--tasks", "mmlu", "piqa"});
  expect_error([] { parse({"eval", "--tasks", " , ", "--data-dir", "d"}); }, {"--tasks is empty"});
  expect_error([] { parse({"pack", "-o", "o", "--head-group-size", "0"}); }, {"--head-group-size", "0"});
  expect_error([] { parse({"pack", "-o", "o", "--head-bits", "12"}); }, {"--head-bits", "12"});
}

// Before issue 14's option checks, an unknown --sba-normalize was taken as "none" and the
// run went ahead; quantize_model itself now refuses it (and the other options) up front.
TEST(CliOptions, QuantizeModelRefusesAnUnknownNormalization) {
  Model m = test::make_tiny_model();
  const CalibWindows calib = sample_windows(test::random_tokens(400, m.config.vocab_size, 1), 4, 16, 0);
  QuantizeOptions o;
  o.method = "slim";
  o.bits = 2;
  o.group_size = 8;
  o.progress = false;
  o.sba_criterion = "hessian";
  o.sba_scope = "model";
  o.sba_normalize = "outptu";
  expect_error([&] { quantize_model(m, &calib, o); }, {"--sba-normalize", "outptu", "none, output"});
}

}  // namespace
}  // namespace slim
