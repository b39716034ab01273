// slim quantize: RTN, GPTQ or SliM-LLM over every decoder-block linear; writes a
// model directory that `slim ppl` / `slim generate` load, plus quant_report.json:
// fake-quantized fp32 weights in the HF layout, or with --pack the packed
// low-bit file (pack/packed_model.h, docs/FORMAT.md). The directory is
// assembled under a temporary name and renamed at the end: an interrupted run
// never leaves a half-written DIR that looks valid.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "calib/dataset.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "io/hf_checkpoint.h"
#include "io/model_source.h"
#include "pack/packed_model.h"
#include "quant/bitmap.h"
#include "quant/pipeline.h"
#include "util/error.h"
#include "util/files.h"
#include "util/memory.h"

namespace slim::cli {

namespace fs = std::filesystem;

namespace {
struct QuantizeArgs {
  ModelArgs model;
  QuantizeOptions q;
  std::string calib;
  int nsamples = 128;
  int seqlen = 2048;
  uint64_t seed = 0;
  std::string out;
  std::string bitmap;
  bool no_sba = false, no_sqc = false;
  bool pack = false;
  int head_bits = 0;
  int embed_bits = 0;
  int threads = 0;
};

void run(QuantizeArgs& a) {
  // Every option first: a bad one fails before the model is loaded.
  check_threads(a.threads);
  SLIM_CHECK(!a.out.empty(), "--out DIR is required");
  a.q.sba = !a.no_sba;
  a.q.sqc = !a.no_sqc;
  {
    QuantizeOptions q = a.q;
    std::vector<LinearQuantParams> none;
    if (a.pack) q.params_out = &none;  // packing's own constraints (--act-order needs --static-groups)
    validate_quantize_options(q);
  }
  SLIM_CHECK(a.bitmap.empty() || a.q.method == "slim" || a.q.method == "slim+",
             "--bitmap applies to --method slim and slim+");
  if (a.q.method != "rtn") {
    SLIM_CHECK(!a.calib.empty(), "--calib FILE is required for --method {}", a.q.method);
    SLIM_CHECK(a.nsamples > 0, "--nsamples must be positive, got {}", a.nsamples);
    SLIM_CHECK(a.seqlen >= 2, "--seqlen must be at least 2, got {}", a.seqlen);
  }
  SLIM_CHECK((a.head_bits == 0 && a.embed_bits == 0) || a.pack, "--head-bits and --embed-bits need --pack");
  SLIM_CHECK(a.embed_bits >= 0 && a.embed_bits <= 8, "--embed-bits must be in 0..8, got {}", a.embed_bits);
  SLIM_CHECK(a.head_bits >= 0 && a.head_bits <= 8, "--head-bits must be in 0..8, got {}", a.head_bits);
  if (options_only()) return;
  apply_threads(a.threads);
  LoadedModel lm = open_model(a.model.model, a.model.tokenizer);
  Model& m = lm.model;
  // Before any long work: refuses an --out that would lose data, finds an
  // unwritable parent now, and removes temporaries of killed runs.
  OutputDir out(a.out, {lm.paths.model_path, lm.paths.tokenizer_path, a.calib, a.bitmap});

  CalibWindows calib;
  nlohmann::json calib_info = nullptr;
  Bitmap saved;
  if (!a.bitmap.empty()) {
    saved = load_bitmap(a.bitmap, [&](int block, const std::string& name) -> std::optional<std::pair<int64_t, int64_t>> {
      if (block < 0 || block >= m.config.n_layers) return std::nullopt;
      for (auto& r : m.weights.blocks[size_t(block)].linears())
        if (name == r.name) return std::pair<int64_t, int64_t>{r.linear->out(), r.linear->in()};
      return std::nullopt;
    });
    a.q.bitmap = &saved;
  }
  if (a.q.method != "rtn") {
    const int seqlen = std::min(a.seqlen, m.config.max_seq_len);
    require_memory(quantize_memory(m.config, a.nsamples, seqlen, a.q), fmt::format("quantize --method {}", a.q.method),
                   "lower --nsamples or --seqlen, or add --fp16-activations");
    if (seqlen < a.seqlen)
      fmt::print(stderr, "calibration seqlen capped at the model's context: {}\n", seqlen);
    auto text_tokens = lm.tokenizer->encode(read_text(a.calib), true);
    calib = sample_windows(text_tokens, a.nsamples, seqlen, a.seed);
    calib_info = {{"file", a.calib},     {"text_tokens", text_tokens.size()}, {"nsamples", a.nsamples},
                  {"seqlen", seqlen},    {"seed", a.seed},
                  {"generator", "mt19937_64, start = rejection-sampled uniform in [0, ntok - seqlen - 1]"}};
  }
  fmt::print(stderr, "quantizing {} with {} at {} bits, group {}\n", lm.paths.model_path, a.q.method, a.q.bits,
             a.q.group_size);
  Bitmap bitmap;
  std::vector<LinearQuantParams> params;
  if (a.pack) a.q.params_out = &params;
  nlohmann::json report = quantize_model(m, a.q.method == "rtn" ? nullptr : &calib, a.q, &bitmap);

  // Assembled under the temporary name, then published.
  const std::string final_dir = out.final_dir();
  {
    const fs::path tmp(out.tmp());
    std::map<std::string, std::string> meta = {{"slim.method", a.q.method},
                                               {"slim.bits", std::to_string(a.q.bits)},
                                               {"slim.group_size", std::to_string(a.q.group_size)},
                                               {"slim.version", SLIM_VERSION},
                                               {"slim.calibration", calib_info.dump()},
                                               {"slim.command", command_line()}};
    if (a.pack) {
      PackedSaveOptions po;
      po.source_dtype = m.source_dtype;
      po.metadata = meta;
      po.head_bits = a.head_bits;
      po.embed_bits = a.embed_bits;
      save_packed_model(m, params, po, tmp.string());
    } else {
      HfSaveOptions so;
      so.metadata = meta;
      save_hf_model(m, tmp.string(), so);
    }
    copy_tokenizer(lm.paths, tmp.string());
    if (a.q.method == "slim" || a.q.method == "slim+") {
      bitmap.model = lm.paths.model_path;
      save_bitmap((tmp / "bitmap.json").string(), bitmap);
    }
    report["command"] = command_line();
    report["version"] = SLIM_VERSION;
    report["source_model"] = lm.paths.model_path;
    report["calibration"] = calib_info;
    report["options"] = {{"method", a.q.method},        {"bits", a.q.bits},
                         {"group_size", a.q.group_size}, {"damp", a.q.damp},
                         {"act_order", a.q.act_order},   {"static_groups", a.q.static_groups},
                         {"fp16_activations", a.q.fp16_activations}, {"pack", a.pack}};
    if (a.q.method == "slim+")
      report["options"].update({{"lwc_epochs", report["lwc"]["epochs"]}, {"lwc_lr", a.q.lwc_lr},
                                {"aug_loss", a.q.lwc_aug_loss}, {"lwc_batch", a.q.lwc_batch},
                                {"lwc_init", report["lwc"]["init"]}, {"lwc_weights", report["lwc"]["weights"]}});
    if (a.q.method == "slim" || a.q.method == "slim+")
      report["options"].update({{"sba", a.q.sba}, {"sqc", a.q.sqc}, {"faithful", a.q.faithful},
                                {"sqc_lambda", a.q.sqc_lambda}, {"bitmap", a.bitmap},
                                {"sba_criterion", a.q.sba_criterion}, {"sba_max_up", a.q.sba_max_up},
                                {"sba_scope", a.q.sba_scope}, {"sba_normalize", a.q.sba_normalize},
                                {"sqc_p_min", a.q.sqc_p_min}, {"sqc_binary_iters", a.q.sqc_binary_iters},
                                {"sqc_coarse", a.q.sqc_coarse}, {"sqc_refine", a.q.sqc_refine}});
    write_file_atomic((tmp / "quant_report.json").string(), report.dump(2) + "\n");
  }
  out.publish();
  const auto& t = report["totals"];
  fmt::print("{:<8} {:>5} {:>6} {:>10} {:>12} {:>10}\n", "method", "bits", "group", "linears", "bits/weight",
             "seconds");
  fmt::print("{:<8} {:>5} {:>6} {:>10} {:>12.4f} {:>10.2f}\n", a.q.method, a.q.bits, a.q.group_size,
             report["layers"].size(), t["bits_per_weight"].get<double>(), t["total_seconds"].get<double>());
  fmt::print("wrote {}\n", final_dir);
}
}  // namespace

void add_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand("quantize", "quantize every decoder-block linear (RTN or GPTQ) into a model directory");
  add_model_options(cmd, a->model);
  cmd->add_option("--method", a->q.method,
                  "rtn | gptq | slim (SliM-LLM: GPTQ + salience-driven N-1/N/N+1 group bits (SBA) + "
                  "salience-weighted scale search (SQC)) | slim+ (SliM-LLM+: SliM's bit map, then learnable "
                  "weight clipping trained per decoder block)")
      ->capture_default_str();
  cmd->add_flag("--no-sba", a->no_sba, "slim: uniform bits (SQC only)");
  cmd->add_flag("--no-sqc", a->no_sqc, "slim: plain min-max group fit (SBA only)");
  auto* faithful = cmd->add_flag("--faithful", a->q.faithful,
                                 "slim: reproduce the reference's choices (KL search with k >= 1, absolute salience "
                                 "damp, SQC grid 0.9-1.1, binary-with-mean 1-bit groups)");
  cmd->add_option("--sqc-lambda", a->q.sqc_lambda, "slim: weight of salient weights in SQC's error")->capture_default_str();
  cmd->add_option("--sba-token-stride", a->q.sba_token_stride, "slim: use every n-th calibration token in SBA's KL "
                  "search (0 = about 8k tokens per layer)")->capture_default_str();
  auto* p_min = cmd->add_option("--sqc-p-min", a->q.sqc_p_min,
                                "slim: SQC tries range factors from 1.1 down to this (reference 0.9)")
                    ->capture_default_str();
  auto* bin_iters = cmd->add_option("--sqc-binary-iters", a->q.sqc_binary_iters,
                                    "slim: Lloyd rounds of the 1-bit group fit (0 = reference binary-with-mean)")
                        ->capture_default_str();
  cmd->add_option("--sqc-coarse", a->q.sqc_coarse,
                  "slim: SQC visits every k-th range factor first, then the rest nearest the best first "
                  "(0 = grid order; same result, faster pruning)")
      ->capture_default_str();
  cmd->add_option("--sqc-refine", a->q.sqc_refine,
                  "slim, with --sqc-coarse: all (exact, every factor), local (approximate: only the factors "
                  "between the coarse winner's coarse neighbours) or auto (exact for 2-bit groups, local for "
                  "wider ones); default: auto at --bits 3, all otherwise")
      ->capture_default_str();
  auto* criterion = cmd->add_option("--sba-criterion", a->q.sba_criterion,
                  "slim: how SBA scores bit allocations: kl (the published KL search between layer outputs), "
                  "obs (Σ (w-q)²/U_cc², GPTQ's compensated error), hessian (tr(E H_gg Eᵀ) per group)")
      ->capture_default_str();
  cmd->add_option("--sba-max-up", a->q.sba_max_up, "slim, obs/hessian: highest width N + this (1 or 2)")
      ->capture_default_str();
  cmd->add_option("--sba-scope", a->q.sba_scope,
                  "slim, obs/hessian: layer (every linear averages N bits) or model (only the model total is N; "
                  "one extra calibration pass)")
      ->capture_default_str();
  cmd->add_option("--sba-normalize", a->q.sba_normalize,
                  "slim, --sba-scope model: none (raw output errors) or output (relative to each linear's output "
                  "energy)")->capture_default_str();
  cmd->add_option("--lwc-epochs", a->q.lwc_epochs, "slim+: training epochs per block (-1: default 50)")
      ->capture_default_str();
  cmd->add_option("--lwc-lr", a->q.lwc_lr, "slim+: AdamW learning rate of the clipping logits")->capture_default_str();
  cmd->add_flag("--aug-loss", a->q.lwc_aug_loss,
                "slim+: add OmniQuant's second term, the MSE to the full-precision block on the quantized inputs");
  cmd->add_option("--lwc-batch", a->q.lwc_batch, "slim+: calibration windows per AdamW step")->capture_default_str();
  cmd->add_option("--lwc-init", a->q.lwc_init,
                  "slim+: minmax (clipping logits 4.0, the reference) or slim (start from SliM's SQC ranges); "
                  "default minmax");
  cmd->add_option("--lwc-weights", a->q.lwc_weights,
                  "slim+: raw (train clipping of the original weights, the reference) or gptq (of SliM's "
                  "GPTQ-updated weights); default raw");
  cmd->add_option("--bitmap", a->bitmap, "slim: reuse the bit allocation saved in this bitmap.json");
  cmd->add_option("--bits", a->q.bits, "bits per weight (1-4, 8)")->capture_default_str();
  cmd->add_option("--group-size", a->q.group_size, "input columns per group; -1 = one group per row")
      ->capture_default_str();
  cmd->add_option("--calib", a->calib, "calibration text (never the evaluation text)");
  cmd->add_option("--nsamples", a->nsamples, "calibration windows")->capture_default_str();
  cmd->add_option("--seqlen", a->seqlen, "tokens per window (capped at the model's context)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "window sampling seed")->capture_default_str();
  cmd->add_option("--damp", a->q.damp, "GPTQ damping, relative to mean(diag H); raised automatically on failure")
      ->capture_default_str();
  cmd->add_flag("--act-order", a->q.act_order, "GPTQ: quantize columns by decreasing Hessian diagonal");
  cmd->add_flag("--static-groups", a->q.static_groups, "GPTQ: fit group grids before any update (with --act-order)");
  cmd->add_flag("--fp16-activations", a->q.fp16_activations, "store calibration activations in fp16 (half memory)");
  cmd->add_option("-o,--out", a->out, "output model directory")->required();
  cmd->add_option("--head-bits", a->head_bits, "with --pack: also pack the output head by RTN at this many bits "
                  "(groups of 128); 0 keeps it in the source dtype")->capture_default_str();
  cmd->add_option("--embed-bits", a->embed_bits, "with --pack: also pack the token embedding by RTN at this many "
                  "bits (groups of 128); 0 keeps it in the source dtype")->capture_default_str();
  cmd->add_flag("--pack", a->pack, "write the packed low-bit model (model.slim.safetensors, docs/FORMAT.md) "
                "instead of fake-quantized fp32 weights");
  add_threads_option(cmd, a->threads);
  // --faithful sets the reference's values of the options it covers; giving
  // one of them explicitly as well is a contradiction, refused.
  cmd->callback([a, faithful, p_min, bin_iters, criterion] {
    if (faithful->count()) {
      for (auto* o : {p_min, bin_iters, criterion})
        SLIM_CHECK(o->count() == 0, "--faithful fixes {} to the reference's value: drop one of the two",
                   o->get_name());
      a->q.sba_criterion = "kl";
      a->q.sqc_p_min = 0.9;
      a->q.sqc_binary_iters = 0;
    }
    run(*a);
  });
}

}  // namespace slim::cli
