// slim quantize: RTN, GPTQ, SliM-LLM or SliM-LLM+ over every decoder-block linear; writes a
// model directory that `slim ppl` / `slim generate` load, plus quant_report.json:
// fake-quantized fp32 weights in the HF layout, or with --pack the packed
// low-bit file (pack/packed_model.h, docs/FORMAT.md). The directory is
// assembled under a temporary name and renamed at the end: an interrupted run
// never leaves a half-written DIR that looks valid.
#include <fmt/format.h>
#include <fcntl.h>
#include <omp.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

#include <filesystem>
#include <optional>

#include "calib/checkpoint.h"
#include "dist/comm.h"
#include "dist/factor.h"
#include "calib/dataset.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "io/hf_checkpoint.h"
#include "io/model_source.h"
#include "pack/packed_model.h"
#include "pack/sharded_writer.h"
#include "quant/bitmap.h"
#include "quant/pipeline.h"
#include "util/blas_kernels.h"
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
  std::string out_dtype = "source";
  bool no_sba = false, no_sqc = false;
  bool pack = false;
  int head_bits = 0;
  int embed_bits = 0;
  int threads = 0;
  bool resume = false, restart = false;
  bool fp32_activations = false;
};

// SIGINT / SIGTERM: stop after the block in progress is checkpointed. A
// second signal gets the default action (the process ends at once; the last
// checkpoint stays).
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  std::signal(sig, SIG_DFL);
}

// The command line as recorded in the output: without --resume / --restart,
// so a resumed run writes the same bytes as an uninterrupted one.
std::string recorded_command_line() {
  std::string out;
  size_t i = 0;
  const std::string cl = command_line();
  while (i < cl.size()) {
    size_t j = cl.find(' ', i);
    if (j == std::string::npos) j = cl.size();
    const std::string tok = cl.substr(i, j - i);
    if (tok != "--resume" && tok != "--restart") out += (out.empty() ? "" : " ") + tok;
    i = j + 1;
  }
  return out;
}

// The options the output depends on (quant_report.json and the checkpoint's fingerprint).
nlohmann::json options_json(const QuantizeArgs& a) {
  nlohmann::json o = {{"method", a.q.method},
                      {"bits", a.q.bits},
                      {"group_size", a.q.group_size},
                      {"damp", a.q.damp},
                      {"act_order", a.q.act_order},
                      {"static_groups", a.q.static_groups},
                      {"fp16_activations", a.q.fp16_activations},
                      {"pack", a.pack},
                      {"head_bits", a.head_bits},
                      {"embed_bits", a.embed_bits},
                      {"out_dtype", a.out_dtype}};
  if (a.q.method == "slim+")
    o.update({{"lwc_lr", a.q.lwc_lr}, {"aug_loss", a.q.lwc_aug_loss}, {"lwc_batch", a.q.lwc_batch},
              {"lwc_epochs_option", a.q.lwc_epochs}, {"lwc_init_option", a.q.lwc_init},
              {"lwc_weights_option", a.q.lwc_weights}});
  if (a.q.method == "slim" || a.q.method == "slim+")
    o.update({{"sba", a.q.sba}, {"sqc", a.q.sqc}, {"faithful", a.q.faithful}, {"sqc_lambda", a.q.sqc_lambda},
              {"bitmap", a.bitmap}, {"sba_criterion", a.q.sba_criterion}, {"sba_max_up", a.q.sba_max_up},
              {"sba_scope", a.q.sba_scope}, {"sba_normalize", a.q.sba_normalize}, {"sqc_p_min", a.q.sqc_p_min},
              {"sqc_binary_iters", a.q.sqc_binary_iters}, {"sqc_coarse", a.q.sqc_coarse},
              {"sqc_refine", a.q.sqc_refine}, {"sba_token_stride", a.q.sba_token_stride}});
  return o;
}

// Several ranks: block l's checkpoint (calib/checkpoint.h). Every rank writes
// its own windows' part (fsynced); the part descriptors are gathered, which
// is the barrier after the fsyncs; rank 0 then commits the manifest
// (`commit`, called on rank 0 only); after a second barrier each rank drops
// its older parts.
void checkpoint_over_ranks(const std::string& dir, int l, bool reference, const QuantizeOptions::BlockState& st,
                           const std::function<void(const nlohmann::json& in, const nlohmann::json& ref)>& commit) {
  std::vector<std::string> mine;
  auto stream = [&](const char* name, std::span<const std::byte> bytes) {
    const nlohmann::json part = Checkpoint::write_part(dir, name, l + 1, dist::rank(), dist::size(), bytes);
    mine.push_back(part["file"].get<std::string>());
    const std::string line = part.dump() + "\n";
    const std::vector<std::byte> all = dist::allgather(std::as_bytes(std::span(line)));
    nlohmann::json parts = nlohmann::json::array();  // rank order
    const std::string text(reinterpret_cast<const char*>(all.data()), all.size());
    for (size_t i = 0, j; i < text.size(); i = j + 1) {
      j = text.find('\n', i);
      parts.push_back(nlohmann::json::parse(text.substr(i, j - i)));
    }
    return parts;
  };
  const nlohmann::json in = stream("inputs", st.next_inputs);
  const nlohmann::json ref = reference ? stream("reference", st.next_reference) : nlohmann::json::array();
  if (dist::is_root()) commit(in, ref);
  dist::barrier();
  Checkpoint::remove_old_parts(dir, dist::rank(), dist::size(), mine);
}

// Where the hours went, summed over the blocks this run computed.
void print_time_by_part(const nlohmann::json& report) {
  const auto& blocks = report["blocks"];
  if (blocks.empty()) return;
  auto sum_b = [&](const char* k) {
    double s = 0;
    for (const auto& b : blocks) s += b.value(k, 0.0);  // a report of an older binary may lack a field
    return s;
  };
  auto sum_l = [&](const char* k) {
    double s = 0;
    for (const auto& l : report["layers"])
      if (l.contains(k) && l["layer"].get<int>() >= blocks[0]["layer"].get<int>()) s += l[k].get<double>();
    return s;
  };
  const double gflop = sum_b("forward_gflop"), prop = sum_b("propagate_seconds"), hp = sum_b("hessian_pass_seconds");
  const double ha = sum_b("hessian_add_seconds"), hgflop = sum_b("hessian_pass_gflop");
  fmt::print("\n{:<52} {:>10}\n", fmt::format("time by part (blocks of this run; OpenBLAS {})", blas_core_name()),
             "seconds");
  fmt::print("{:<52} {:>10.2f}   ({:.1f} GFLOP/s without the Hessian adds)\n", "forward, original weights (+ Hessians; no down_proj)", hp,
             hp - ha > 0 ? hgflop / (hp - ha) : 0.0);
  fmt::print("{:<52} {:>10.2f}\n", "  of which Hessian accumulation (syrk)", ha);
  fmt::print("{:<52} {:>10.2f}\n", "quantizers", sum_b("quantize_seconds"));
  fmt::print("{:<52} {:>10.2f}\n", "  GPTQ factors (Cholesky, inverse)", sum_l("factor_seconds"));
  fmt::print("{:<52} {:>10.2f}\n", "  bit allocation (SBA)", sum_l("allocation_seconds"));
  fmt::print("{:<52} {:>10.2f}\n", "  GPTQ column loop (SQC included)", sum_l("gptq_seconds"));
  fmt::print("{:<52} {:>10.2f}\n", "    of which SQC", sum_l("sqc_seconds"));
  if (report.contains("lwc")) {  // slim+: the training is the quantizers' main part
    double train = 0;
    for (const auto& b : report["lwc"]["blocks"])
      if (b["block"].get<int>() >= blocks[0]["layer"].get<int>()) train += b["seconds"].get<double>();
    fmt::print("{:<52} {:>10.2f}\n", "  SliM-LLM+ clipping training", train);
    fmt::print("{:<52} {:>10.2f}\n", "forward, full-precision stream (training targets)", sum_b("reference_seconds"));
  }
  fmt::print("{:<52} {:>10.2f}   ({:.1f} GFLOP/s)\n", "forward, quantized weights (propagation)", prop,
             prop > 0 ? gflop / prop : 0.0);
  fmt::print("{:<52} {:>10.2f}\n", "writing shards and checkpoints", sum_b("write_seconds"));
  if (report["totals"]["ranks"].get<int>() > 1) {
    fmt::print("{:<52} {:>10.2f}\n", "combining Hessians across ranks", sum_b("reduce_seconds"));
    fmt::print("{:<52} {:>10.1f}   (sent {:.1f} MB)\n", "rank 0 received, MB", sum_b("comm_received_bytes") / 1e6,
               sum_b("comm_sent_bytes") / 1e6);
    if (sum_b("comm_packed_raw_bytes") > 0)
      fmt::print("{:<52} {:>10.1f}   ({:.1f} MB as fp64; {:.2f} s packing)\n", "  of which fp64 summands, packed, MB",
                 sum_b("comm_packed_bytes") / 1e6, sum_b("comm_packed_raw_bytes") / 1e6, sum_b("comm_pack_seconds"));
    std::vector<double> by_rank;  // received over the blocks run, by rank
    for (const auto& b : blocks)
      if (b.contains("comm_received_bytes_by_rank")) {
        const auto& v = b["comm_received_bytes_by_rank"];
        by_rank.resize(v.size(), 0.0);
        for (size_t r = 0; r < v.size(); ++r) by_rank[r] += v[r].get<double>();
      }
    if (!by_rank.empty())
      fmt::print("{:<52} {:>10.1f}\n", "busiest rank received, MB", *std::max_element(by_rank.begin(), by_rank.end()) / 1e6);
  }
}

void run(QuantizeArgs& a) {
  // Every option first: a bad one fails before the model is loaded.
  check_threads(a.threads);
  SLIM_CHECK(a.q.dist_factor_min >= 1, "--dist-factor-min must be at least 1, got {}", a.q.dist_factor_min);
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
  SLIM_CHECK(!(a.resume && a.restart), "--resume and --restart exclude each other");
  SLIM_CHECK(!(a.fp32_activations && a.q.fp16_activations), "--fp16-activations and --fp32-activations exclude each other");
  SLIM_CHECK(a.out_dtype == "source" || a.out_dtype == "f32" || a.out_dtype == "f16" || a.out_dtype == "bf16",
             "--out-dtype must be source, f32, f16 or bf16, got '{}'", a.out_dtype);
  SLIM_CHECK(!a.pack || a.out_dtype == "source", "--out-dtype applies to the fake-quantized output; --pack keeps "
             "the unquantized tensors in the source dtype");
  SLIM_CHECK(a.q.scratch_dir.empty() || dir_exists(a.q.scratch_dir), "--scratch {}: not a directory", a.q.scratch_dir);
  SLIM_CHECK(dist::size() == 1 || a.q.method != "rtn",
             "{} ranks: --method rtn needs no calibration and is not split across ranks; run it without mpirun",
             dist::size());
  SLIM_CHECK(dist::size() == 1 || a.q.method != "slim+" || a.q.lwc_batch >= dist::size(),
             "SliM-LLM+ on {} ranks divides each step's windows among them: --lwc-batch must be at least {}, got {}",
             dist::size(), dist::size(), a.q.lwc_batch);
  if (options_only()) return;
  apply_threads(a.threads);
  LoadedModel lm = open_model(a.model.model, a.model.tokenizer);
  Model& m = lm.model;
  // Several ranks (mpirun): every rank calibrates its share; only rank 0
  // touches the output directory and the checkpoint.
  const bool root = dist::is_root();
  // Before any long work: refuses an --out that would lose data, finds an
  // unwritable parent now, and removes temporaries of killed runs.
  // The temporary is the run's checkpoint directory (".DIR.checkpoint"),
  // kept when the run stops after a committed block, for --resume.
  std::optional<OutputDir> out_slot;
  int lock_fd = -1;
  if (root) {
    out_slot.emplace(a.out, std::vector<std::string>{lm.paths.model_path, lm.paths.tokenizer_path, a.calib, a.bitmap},
                     OutputDir::Resumable{});
    lock_fd = ::open((fs::path(out_slot->tmp()) / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    SLIM_CHECK(lock_fd >= 0 && ::flock(lock_fd, LOCK_EX | LOCK_NB) == 0,
               "{}: another slim quantize is writing this output (its checkpoint directory {} is locked)", a.out,
               out_slot->tmp());
  }

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
    // Activations in fp16 once they are large: they are the one buffer that
    // grows with the calibration set (7B, 128 x 2048 tokens: 4 GiB in fp32).
    const double act_gib = double(a.nsamples) * seqlen * m.config.dim * 4 / double(1 << 30);
    if (!a.fp32_activations && !a.q.fp16_activations && act_gib >= 2.0) {
      a.q.fp16_activations = true;
      fmt::print(stderr, "calibration activations in fp16 ({:.1f} GiB in fp32; --fp32-activations keeps fp32)\n",
                 act_gib);
    }
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
  if (!root) {  // the block to start at and the checkpoint come from rank 0, then the same run without output
    std::string text;
    dist::broadcast(text);
    const nlohmann::json info = nlohmann::json::parse(text);
    const std::string dir = info["dir"].get<std::string>();
    QuantizeOptions::Resume resume;
    resume.start_block = info["start"].get<int>();
    resume.load_inputs = [&](std::span<std::byte> in) {
      Checkpoint::load_part(dir, info["inputs"], dist::rank(), "block inputs", in);
    };
    resume.load_reference = [&](std::span<std::byte> in) {
      Checkpoint::load_part(dir, info["reference"], dist::rank(), "full-precision (reference) block inputs", in);
    };
    if (resume.start_block > 0) a.q.resume = &resume;
    a.q.block_done = [&](int l, const QuantizeOptions::BlockState& st) {
      checkpoint_over_ranks(dir, l, a.q.method == "slim+", st, nullptr);
    };
    quantize_model(m, &calib, a.q);
    Checkpoint::remove_old_parts(dir, dist::rank(), dist::size(), {});
    std::error_code ec;
    fs::remove(dir, ec);  // only when empty: this host's own copy of the directory (no shared file system)
    dist::barrier();      // rank 0 publishes the directory after this
    return;
  }
  OutputDir& out = *out_slot;
  fmt::print(stderr, "quantizing {} with {} at {} bits, group {}{}\n", lm.paths.model_path, a.q.method, a.q.bits,
             a.q.group_size, dist::size() > 1 ? fmt::format(", {} ranks", dist::size()) : "");
  // Calibration is GEMM-bound (the forward passes, Hessians, GPTQ factors): say when BLAS runs slow kernels.
  if (const std::string note = blas_core_note(); root && a.q.method != "rtn" && !note.empty())
    fmt::print(stderr, "note: {}\n", note);
  Bitmap bitmap;
  std::vector<LinearQuantParams> params;
  if (a.pack) a.q.params_out = &params;

  // The output is written as the blocks finish (pack/sharded_writer.h), into
  // the temporary directory that publish() renames at the end.
  const std::string final_dir = out.final_dir();
  const fs::path tmp(out.tmp());
  std::map<std::string, std::string> meta = {{"slim.method", a.q.method},
                                             {"slim.bits", std::to_string(a.q.bits)},
                                             {"slim.group_size", std::to_string(a.q.group_size)},
                                             {"slim.version", SLIM_VERSION},
                                             {"slim.calibration", calib_info.dump()},
                                             {"slim.command", recorded_command_line()}};
  // Everything the output depends on; a checkpoint of a run with another
  // fingerprint is refused (calib/checkpoint.h).
  std::string calib_hash;
  {
    uint64_t h = 0;
    for (const auto& w : calib.tokens) h = hash_bytes(std::as_bytes(std::span(w)), h);
    calib_hash = fmt::format("{:016x}", h);
  }
  const nlohmann::json options = options_json(a);
  nlohmann::json fingerprint = {{"model", model_fingerprint(lm.paths.model_path)},
                                      {"calibration", {{"info", calib_info}, {"windows_hash", calib_hash}}},
                                      {"options", options},
                                      {"threads", omp_get_max_threads()},
                                      // the BLAS kernels change rounding, as the thread count does
                                      {"blas_core", blas_core_name()},
                                      {"ranks", dist::size()},
                                      {"version", SLIM_VERSION}};
  if (dist::size() > 1 && dist::factor_over_ranks_available())  // it changes U by rounding
    fingerprint["dist_factor_min"] = a.q.dist_factor_min;
  if (dist::size() > 1)  // fp32 changes H by rounding; fp64 and fp64-raw are the same bits
    fingerprint["hessian_wire"] = a.q.hessian_wire == "fp32" ? "fp32" : "fp64";
  Checkpoint ck(out.tmp(), fingerprint);
  std::optional<CheckpointState> resumed;
  if (ck.exists() && !a.restart) {
    SLIM_CHECK(a.resume, "{}: an interrupted run left a checkpoint in {}; add --resume to continue it, or "
               "--restart to discard it", a.out, out.tmp());
    resumed = ck.load();
    // Temporaries of writes a kill interrupted ("NAME.tmpXXXXXXXX") never reach the output.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(out.tmp(), ec)) {
      const std::string n = e.path().filename().string();
      const size_t k = n.rfind(".tmp");
      if (k != std::string::npos && n.size() == k + 12 &&
          n.find_first_not_of("0123456789abcdef", k + 4) == std::string::npos)
        fs::remove(e.path(), ec);
    }
    fmt::print(stderr, "resuming from the checkpoint in {}: blocks 0..{} of {} done\n", out.tmp(),
               resumed->next_block - 1, resumed->n_blocks);
  } else {
    if (a.resume) fmt::print(stderr, "--resume: no checkpoint in {}; starting from block 0\n", out.tmp());
    std::error_code ec;  // a fresh start: nothing of an earlier run stays in our directory
    for (const auto& e : fs::directory_iterator(out.tmp(), ec))
      if (const std::string n = e.path().filename().string(); n != ".lock" && n != kOutputMarker)
        fs::remove_all(e.path(), ec);
  }
  QuantizeOptions::Resume resume;
  if (resumed) {
    resume.start_block = resumed->next_block;
    resume.layers = resumed->layers;
    resume.bitmap = resumed->bitmap;
    resume.blocks = resumed->blocks;
    if (dist::size() == 1) {
      resume.load_inputs = [&](std::span<std::byte> in) { ck.load_inputs(*resumed, in); };
      resume.load_reference = [&](std::span<std::byte> in) { ck.load_reference(*resumed, in); };
    } else {  // rank 0's own part; the other ranks read theirs
      resume.load_inputs = [&](std::span<std::byte> in) {
        Checkpoint::load_part(out.tmp(), resumed->inputs.parts, 0, "block inputs", in);
      };
      resume.load_reference = [&](std::span<std::byte> in) {
        Checkpoint::load_part(out.tmp(), resumed->reference.parts, 0, "full-precision (reference) block inputs", in);
      };
    }
    a.q.resume = &resume;
  }
  {
    nlohmann::json info = {{"start", resume.start_block}, {"dir", out.tmp()}};
    if (resumed) info.update({{"inputs", resumed->inputs.parts}, {"reference", resumed->reference.parts}});
    std::string text = info.dump();
    dist::broadcast(text);
  }
  ShardedWriterOptions wo;
  wo.pack = a.pack;
  SLIM_CHECK(parse_dtype(m.source_dtype, &wo.dtype), "internal: source dtype '{}'", m.source_dtype);
  if (a.out_dtype != "source") {  // f32, f16 or bf16 (checked with the other options)
    std::string up = a.out_dtype;
    for (char& ch : up) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    SLIM_CHECK(parse_dtype(up, &wo.dtype), "internal: --out-dtype '{}'", a.out_dtype);
  }
  wo.metadata = meta;
  wo.head_bits = a.head_bits;
  wo.embed_bits = a.embed_bits;
  wo.group_size = a.q.group_size;
  ShardedModelWriter writer(m, tmp.string(), wo);
  writer.write_rest();
  // Each finished block is written and released: its quantized weights and
  // parameters leave memory, so the output never accumulates in memory.
  size_t params_written = 0;
  auto write_block = [&](int l) {
    if (l < resume.start_block) return;  // written by the interrupted run
    size_t end = params_written;
    while (end < params.size() && params[end].layer == l) ++end;
    writer.write_block(l, std::span<const LinearQuantParams>(params.data() + params_written, end - params_written));
    for (size_t i = params_written; i < end; ++i) std::vector<QuantParams>().swap(params[i].params);
    params_written = end;
    for (auto& r : m.weights.blocks[size_t(l)].linears()) r.linear->w = Tensor();
  };
  const int n_layers = m.config.n_layers;
  a.q.block_done = [&](int l, const QuantizeOptions::BlockState& st) {
    write_block(l);
    if (dist::size() == 1)
      ck.commit(l + 1, n_layers, st.layers, st.bitmap, st.next_inputs, st.next_reference, st.blocks);
    else
      checkpoint_over_ranks(out.tmp(), l, a.q.method == "slim+", st,
                            [&](const nlohmann::json& in, const nlohmann::json& ref) {
                              ck.commit_parts(l + 1, n_layers, st.layers, st.bitmap, in, ref, st.blocks);
                            });
    out.keep();
    // Test seam (tests/cli/resume_test.sh): SLIM_TEST_SIGNAL_AFTER_BLOCK=N:SIG
    // raises SIG once block N is committed, as a kill or Ctrl-C would.
    if (const char* e = std::getenv("SLIM_TEST_SIGNAL_AFTER_BLOCK")) {
      int nb = 0, sig = 0;
      if (std::sscanf(e, "%d:%d", &nb, &sig) == 2 && nb == l + 1) std::raise(sig);
    }
    if (g_stop_signal && l + 1 < n_layers)
      fail("stopped by signal {} after block {}/{}; the checkpoint is in {}: run the same command with --resume "
           "to continue", int(g_stop_signal), l + 1, n_layers, out.tmp());
  };
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  nlohmann::json report = quantize_model(m, a.q.method == "rtn" ? nullptr : &calib, a.q, &bitmap);
  writer.write_index();
  {
    copy_tokenizer(lm.paths, tmp.string());
    if (a.q.method == "slim" || a.q.method == "slim+") {
      bitmap.model = lm.paths.model_path;
      save_bitmap((tmp / "bitmap.json").string(), bitmap);
    }
    report["command"] = recorded_command_line();
    report["version"] = SLIM_VERSION;
    report["source_model"] = lm.paths.model_path;
    report["calibration"] = calib_info;
    report["options"] = options;
    if (a.q.method == "slim+")
      report["options"].update({{"lwc_epochs", report["lwc"]["epochs"]}, {"lwc_init", report["lwc"]["init"]},
                                {"lwc_weights", report["lwc"]["weights"]}});
    if (resumed) report["resumed_from_block"] = resumed->next_block;
    report["memory"] = {{"peak_rss_bytes", peak_rss_bytes()},
                        {"peak_anonymous_bytes_sampled", sampled_peak_anonymous_bytes()}};
    write_file_atomic((tmp / "quant_report.json").string(), report.dump(2) + "\n");
  }
  dist::barrier();  // every other rank has removed its parts
  ck.remove_files();
  std::error_code ec;
  fs::remove(fs::path(out.tmp()) / ".lock", ec);
  out.publish();
  ::close(lock_fd);
  const auto& t = report["totals"];
  fmt::print("{:<8} {:>5} {:>6} {:>10} {:>12} {:>10}\n", "method", "bits", "group", "linears", "bits/weight",
             "seconds");
  fmt::print("{:<8} {:>5} {:>6} {:>10} {:>12.4f} {:>10.2f}\n", a.q.method, a.q.bits, a.q.group_size,
             report["layers"].size(), t["bits_per_weight"].get<double>(), t["total_seconds"].get<double>());
  print_time_by_part(report);
  fmt::print("peak RSS {:.2f} GiB (mapped model pages included), anonymous {:.2f} GiB (sampled every 0.1 s)\n",
             double(peak_rss_bytes()) / (1 << 30), double(sampled_peak_anonymous_bytes()) / (1 << 30));
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
                  "slim, obs/hessian: layer (every linear averages N bits), site (q/k/v and gate/up share one "
                  "width per column group, as SBA on Phi-3's fused matrices), depth or model (only the model total "
                  "is N; one extra calibration pass)")
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
  cmd->add_flag("--fp16-activations", a->q.fp16_activations,
                "store calibration activations in fp16 (half memory; automatic from 2 GiB of fp32 activations)");
  cmd->add_flag("--fp32-activations", a->fp32_activations, "keep calibration activations in fp32 however large");
  cmd->add_option("--scratch", a->q.scratch_dir, "keep the calibration activations in a memory-mapped scratch "
                  "file in this directory instead of memory (70B-wide models)");
  cmd->add_option("--dist-factor-min", a->q.dist_factor_min, "several ranks with ScaLAPACK: input sites at least "
                  "this wide get their GPTQ factor from all ranks together (the rest: one rank each)")
      ->capture_default_str();
  cmd->add_option("--hessian-wire", a->q.hessian_wire, "several ranks: send the partial Hessian sums as fp64 "
                  "(the result is one rank's up to the order of the sums; packed without loss, ~0.6-0.7 of the "
                  "bytes), fp64-raw (the same bits unpacked: for fast links, where packing costs more than it "
                  "saves) or fp32 (half the bytes of the largest transfer; each partial sum rounded once)")
      ->check(CLI::IsMember({"fp64", "fp64-raw", "fp32"}))
      ->capture_default_str();
  cmd->add_option("-o,--out", a->out, "output model directory")->required();
  cmd->add_option("--head-bits", a->head_bits, "with --pack: also pack the output head by RTN at this many bits "
                  "(groups of 128); 0 keeps it in the source dtype")->capture_default_str();
  cmd->add_option("--embed-bits", a->embed_bits, "with --pack: also pack the token embedding by RTN at this many "
                  "bits (groups of 128); 0 keeps it in the source dtype")->capture_default_str();
  cmd->add_option("--out-dtype", a->out_dtype, "fake-quantized output: source (the checkpoint's dtype), f32, f16 "
                  "or bf16")->capture_default_str();
  cmd->add_flag("--pack", a->pack, "write the packed low-bit model (model.slim.safetensors, docs/FORMAT.md) "
                "instead of fake-quantized fp32 weights");
  add_threads_option(cmd, a->threads);
  cmd->add_flag("--resume", a->resume, "continue an interrupted run from its checkpoint (the same command, same "
                "--threads); the output is byte-identical to an uninterrupted run");
  cmd->add_flag("--restart", a->restart, "discard the checkpoint of an interrupted run and start again");
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
