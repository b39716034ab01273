// slim generate: text continuation with a KV cache (greedy at temperature 0).
#include <fmt/format.h>

#include <omp.h>

#include <chrono>
#include <cmath>
#include <random>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/sampling.h"
#include "io/model_source.h"
#include "model/forward.h"
#include "pack/packed_linear.h"
#include "pack/packed_model.h"
#include "util/cpu_load.h"
#include "util/error.h"
#include "util/memory.h"

namespace slim::cli {

namespace {
struct GenerateArgs {
  ModelArgs model;
  std::string prompt = "Once upon a time";
  std::string prompt_file;
  int prompt_tokens = 0;  // > 0: cut the encoded prompt to this many tokens (speed runs)
  bool ignore_eos = false;
  int max_tokens = 256;
  float temperature = 0.f;
  float top_p = 0.9f;
  uint64_t seed = 0;
  int threads = 0;
  std::string json;
};

void run(const GenerateArgs& a) {
  check_threads(a.threads);
  validate_sampling(a.temperature, a.top_p);
  SLIM_CHECK(a.max_tokens >= 0, "--max-tokens must be >= 0, got {}", a.max_tokens);
  SLIM_CHECK(a.prompt_tokens >= 0, "--prompt-tokens must be >= 0 (0 = the whole prompt), got {}", a.prompt_tokens);
  if (options_only()) return;
  apply_threads(a.threads);
  LoadedModel lm = open_model(a.model.model, a.model.tokenizer);
  const ModelConfig& c = lm.model.config;
  std::vector<int> ids = lm.tokenizer->encode(a.prompt_file.empty() ? a.prompt : read_text(a.prompt_file), true);
  SLIM_CHECK(!ids.empty(), "the prompt encodes to no tokens");
  if (a.prompt_tokens > 0) {
    SLIM_CHECK(int(ids.size()) >= a.prompt_tokens, "--prompt-tokens {}: the prompt has only {} tokens",
               a.prompt_tokens, ids.size());
    ids.resize(size_t(a.prompt_tokens));
  }
  const int ctx = generation_context(c.max_seq_len, ids.size(), a.max_tokens);
  {
    MemoryNeed need;
    need.add(fmt::format("KV cache ({} positions)", ctx), kv_cache_bytes(c, ctx));
    need.add("prompt buffers", block_activation_bytes(c, int64_t(ids.size())) + 4 * int64_t(c.vocab_size));
    if (const int64_t tiles = packed_decode_bytes(lm.model); tiles > 0)
      need.add("int8 decode tiles (a copy of the packed codes and scales)", tiles);
    require_memory(need, "slim generate", "lower --max-tokens or shorten the prompt");
  }
  Session s(lm.model, ctx);
  std::mt19937_64 rng(a.seed);
  // Part of loading: the decode kernel's code tiles (int8 GEMV, x86), built
  // here so that neither the prompt nor the first decoded token pays them.
  const auto tp = std::chrono::steady_clock::now();
  const int64_t tile_bytes = prepare_packed_decode(lm.model);
  const double tiles_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - tp).count();
  const int64_t int8_prefill = use_int8_prefill(lm.model);

  // Decode's team follows the load of other programs between tokens, unless
  // the user fixed the count.
  LoadAdaptiveThreads team(omp_get_max_threads(), !threads_fixed_by_user(a.threads));

  auto t0 = std::chrono::steady_clock::now();
  auto logits = s.step(ids);
  auto t1 = std::chrono::steady_clock::now();
  std::string printed = lm.tokenizer->decode(ids);
  fmt::print("{}", printed);
  std::fflush(stdout);
  // Streaming detokenization over a short window (as HF's TextStreamer): text
  // is decoded from `prefix` on, and what decode(ids[prefix, read)) already
  // showed is not printed again. Decoding the whole text per step would make
  // generation quadratic; a window keeps the tokenizer's merging of pieces
  // (leading spaces, multi-token UTF-8) right.
  size_t prefix = 0, read = ids.size();
  auto window = [&](size_t from, size_t to) {
    return lm.tokenizer->decode(std::span<const int>(ids.data() + from, to - from));
  };
  int generated = 0;
  while (generated < a.max_tokens && s.pos() < ctx) {
    // Embeddings are often padded past the tokenizer's vocabulary (OPT: 50272
    // rows, 50265 tokens): those rows name no token and are never sampled.
    const size_t n_tokens = std::min(logits.size(), size_t(lm.tokenizer->vocab_size()));
    int next = sample_token(logits.first(n_tokens), a.temperature, a.top_p, rng);
    // llama2.c stories models delimit documents with BOS: stop there, or at EOS.
    if (!a.ignore_eos && (next == c.eos_id || next == c.bos_id)) break;
    ids.push_back(next);
    ++generated;
    const std::string shown = window(prefix, read), text = window(prefix, ids.size());
    // A trailing U+FFFD is an incomplete UTF-8 sequence: wait for its next byte.
    const bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
    if (!incomplete && text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
      const std::string fresh = text.substr(shown.size());
      fmt::print("{}", fresh);
      std::fflush(stdout);
      printed += fresh;
      prefix = read;
      read = ids.size();
    }
    if (s.pos() >= ctx) break;
    if (team.tick()) apply_threads(team.threads());
    logits = s.step(std::span<const int>(&ids.back(), 1));
  }
  auto t2 = std::chrono::steady_clock::now();
  fmt::print("\n");
  std::fflush(stdout);  // the speed line goes to stderr: keep it after the text
  const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
  const double decode_s = std::chrono::duration<double>(t2 - t1).count();
  const size_t prompt_tokens = ids.size() - size_t(generated);
  const double rss_mib = double(peak_rss_bytes()) / 1048576.0;
  fmt::print(stderr,
             "prompt {} tokens in {:.3f} s ({:.1f} tok/s); generated {} tokens in {:.3f} s ({:.1f} tok/s); "
             "peak RSS {:.1f} MiB (anonymous now {:.1f} MiB; the rest is mapped model pages){}{}{}\n",
             prompt_tokens, prefill_s, prompt_tokens / prefill_s, generated, decode_s,
             generated > 0 ? generated / decode_s : 0.0, rss_mib, double(anonymous_rss_bytes()) / 1048576.0,
             tile_bytes > 0 ? fmt::format("; decode tiles {:.1f} MiB built at load in {:.3f} s",
                                          double(tile_bytes) / 1048576.0, tiles_s)
                            : std::string(),
             int8_prefill > 0 ? fmt::format("; int8 prefill on {} linears (SLIM_GEMM=exact: off)", int8_prefill)
                              : std::string(),
             team.changes() > 0 ? fmt::format("; decode threads down to {} while other programs held CPUs ({} "
                                              "changes; --threads N fixes the count)",
                                              team.fewest(), team.changes())
                                : std::string());
  write_json(a.json, {{"text", printed},
                      {"prompt_tokens", prompt_tokens},
                      {"generated_tokens", generated},
                      {"prefill_seconds", prefill_s},
                      {"decode_seconds", decode_s},
                      {"prefill_tokens_per_second", prompt_tokens / prefill_s},
                      {"decode_tokens_per_second", generated > 0 ? generated / decode_s : 0.0},
                      {"decode_tiles_bytes", tile_bytes},
                      {"decode_tiles_seconds", tiles_s},
                      {"decode_threads_fewest", team.fewest()},
                      {"decode_thread_changes", team.changes()},
                      {"prefill_kernel", int8_prefill > 0 ? "int8" : "exact"},
                      {"peak_rss_mib", rss_mib},
                      {"model_format", lm.model.format},
                      {"kernel_target", packed_kernel_target()},
                      {"command", command_line()}});
}
}  // namespace

void add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "continue a prompt (greedy at --temperature 0)");
  add_model_options(cmd, a->model);
  cmd->add_option("-p,--prompt", a->prompt, "prompt text")->capture_default_str();
  cmd->add_option("--prompt-file", a->prompt_file, "read the prompt from this file");
  cmd->add_option("--prompt-tokens", a->prompt_tokens, "cut the prompt to this many tokens (speed runs, as pp512)");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "keep generating past EOS/BOS (speed runs)");
  cmd->add_option("-n,--max-tokens", a->max_tokens, "tokens to generate at most")->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", a->top_p, "nucleus sampling mass (temperature > 0)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "sampling seed")->capture_default_str();
  cmd->add_option("--json", a->json, "write text and speed as JSON to this file");
  add_threads_option(cmd, a->threads);
  cmd->callback([a] { run(*a); });
}

}  // namespace slim::cli
