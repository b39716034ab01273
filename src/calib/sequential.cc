#include "calib/sequential.h"

#include <fmt/format.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "dist/comm.h"
#include "model/forward.h"
#include "util/error.h"
#include "util/half.h"
#include "util/mapped_file.h"
#include "util/progress.h"

namespace slim {

namespace {

// Activations of every calibration window at one depth: (nsamples, seqlen,
// dim), fp32 or fp16; in memory, or in a memory-mapped scratch file (unlinked
// at once, so it disappears with the process) when a directory is given.
class ActivationStore {
 public:
  ActivationStore(int64_t n, int64_t seq, int64_t dim, bool fp16, const std::string& scratch_dir)
      : row_(seq * dim), fp16_(fp16), bytes_(size_t(n * row_) * (fp16 ? 2 : 4)) {
    if (scratch_dir.empty()) {
      mem_.resize(bytes_);
      base_ = mem_.data();
      return;
    }
    std::string path = (std::filesystem::path(scratch_dir) / "slim-activations-XXXXXX").string();
    const int fd = ::mkstemp(path.data());
    SLIM_CHECK(fd >= 0, "--scratch {}: cannot create a scratch file: {}", scratch_dir, std::strerror(errno));
    ::unlink(path.c_str());
    const bool sized = ::ftruncate(fd, off_t(bytes_)) == 0;
    void* p = sized ? ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    const int err = errno;
    ::close(fd);
    SLIM_CHECK(p != MAP_FAILED, "--scratch {}: cannot map {} bytes of scratch: {}", scratch_dir, bytes_,
               std::strerror(err));
    base_ = static_cast<std::byte*>(p);
    mapped_ = true;
  }
  ~ActivationStore() {
    if (mapped_) ::munmap(base_, bytes_);
  }
  ActivationStore(const ActivationStore&) = delete;
  ActivationStore& operator=(const ActivationStore&) = delete;

  void load(int64_t i, float* out) const {
    if (fp16_)
      f16_to_f32(std::span(half() + i * row_, size_t(row_)), std::span(out, size_t(row_)));
    else
      std::copy_n(full() + i * row_, row_, out);
  }
  std::span<std::byte> bytes() { return {base_, bytes_}; }
  void store(int64_t i, const float* in) {
    if (fp16_)
      for (int64_t k = 0; k < row_; ++k) half()[i * row_ + k] = f32_to_f16(in[k]);
    else
      std::copy_n(in, row_, full() + i * row_);
  }

 private:
  float* full() const { return reinterpret_cast<float*>(base_); }
  uint16_t* half() const { return reinterpret_cast<uint16_t*>(base_); }
  int64_t row_;
  bool fp16_;
  size_t bytes_;
  std::vector<std::byte> mem_;
  std::byte* base_ = nullptr;
  bool mapped_ = false;
};

int site_index(InputSite s) { return int(s); }

}  // namespace

void run_sequential(Model& m, const CalibWindows& calib, const QuantizeLinearFn& quantize,
                    const SequentialOptions& opt) {
  const ModelConfig& c = m.config;
  const int64_t n = int64_t(calib.tokens.size());
  const int T = calib.seqlen;
  const bool ranks = dist::size() > 1;
  // With several ranks (dist/comm.h) this one runs windows `mine` (global indices).
  std::vector<int64_t> mine = opt.windows;
  if (mine.empty()) {
    const dist::Share sh = dist::my_share(n);
    for (int64_t i = sh.begin; i < sh.end; ++i) mine.push_back(i);
  }
  {
    double count = double(mine.size());
    dist::allreduce_sum({&count, 1});
    bool in_range = true;
    for (int64_t i : mine) in_range = in_range && i >= 0 && i < n;
    SLIM_CHECK(in_range && int64_t(count) == n, "internal: the ranks hold {} windows of {}", int64_t(count), n);
  }
  const int64_t nl = int64_t(mine.size());
  require_memory(sequential_memory(c, n, T, opt), "calibration",
                 "lower --nsamples or --seqlen, or add --fp16-activations");
  ActivationStore acts(nl, T, c.dim, opt.fp16_activations, opt.scratch_dir);
  std::optional<ActivationStore> ref;  // the full-precision stream (reference_stream)
  if (opt.reference_stream) ref.emplace(nl, T, c.dim, opt.fp16_activations, opt.scratch_dir);
  std::vector<float> x(size_t(T) * c.dim), k(size_t(T) * c.kv_dim()), v(size_t(T) * c.kv_dim());
  SLIM_CHECK(opt.start_block >= 0 && opt.start_block <= c.n_layers, "internal: start block {}", opt.start_block);
  if (opt.start_block > 0) {
    // Every rank reads its own part of the checkpoint.
    SLIM_CHECK(bool(opt.load_inputs) && (!ref || bool(opt.load_reference)), "internal: resuming without the block inputs");
    opt.load_inputs(acts.bytes());
    if (ref) opt.load_reference(ref->bytes());
  } else {
    for (int64_t i = 0; i < nl; ++i) {
      embed(m, calib.tokens[size_t(mine[size_t(i)])], x.data());
      acts.store(i, x.data());
      if (ref) ref->store(i, x.data());
    }
  }
  RopeTable rope;
  rope.build(c, T);
  BlockScratch scratch;
  HessianAccumulator hess[4] = {HessianAccumulator(c.dim), HessianAccumulator(c.q_dim()),
                                HessianAccumulator(c.dim), HessianAccumulator(c.hidden_dim)};
  CapturedInputs captured[4];
  Progress prog("block", c.n_layers, opt.progress && dist::is_root());
  prog.set_done_before(opt.start_block);
  // Inside a block the ETA moves with the windows of its forward passes (at
  // 128 x 2048 tokens one pass of a 7B block took 13 minutes here); the
  // quantization between them counts as no time.
  const int passes = ref ? 3 : 2;
  auto pass_progress = [&](int l, int pass, int64_t i, const char* what) {
    prog.update_fraction(l + (pass + double(i + 1) / double(nl)) / passes,
                         fmt::format("layer {} {}: window {}/{}", l, what, i + 1, nl));
  };
  for (int l = opt.start_block; l < c.n_layers; ++l) {
    BlockWeights& b = m.weights.blocks[size_t(l)];
    // The block in fp32 while it is calibrated and quantized (16-bit source
    // weights are read in place elsewhere). A linear the callback did not
    // replace gets its source tensor back afterwards, so a pass that only
    // measures (model-scope allocation) leaves no fp32 copy behind.
    // `widened` only identifies each fp32 copy: holding the copies themselves
    // kept every replaced linear's fp32 weights alive next to its quantized
    // result until the block's end (2.3 GiB more at 70B-wide by down_proj).
    std::vector<Tensor> source;
    std::vector<std::weak_ptr<const void>> widened;
    for (auto& lin : b.linears()) {
      source.push_back(lin.linear->w);
      lin.linear->w = lin.linear->w.to_f32();
      widened.push_back(lin.linear->w.storage());
    }
    using Clock = std::chrono::steady_clock;
    auto secs = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    BlockTimes bt;
    bt.layer = l;
    const dist::Traffic traffic0 = dist::traffic();
    {
      double w = 0;
      for (auto& lin : b.linears()) w += double(lin.linear->out()) * double(lin.linear->in());
      // linears 2·T·weights, causal attention 2·2·q_dim·T(T+1)/2, per window
      // (this rank's windows)
      bt.forward_gflop = double(nl) * (2.0 * T * w + 2.0 * c.q_dim() * double(T) * (T + 1)) / 1e9;
      bt.hessian_pass_gflop = bt.forward_gflop - double(nl) * 2.0 * T * double(b.w_down.out()) * double(b.w_down.in()) / 1e9;
    }
    auto t0 = Clock::now();
    // (1) Hessians from the original weights.
    hess[0].reset(c.dim);
    hess[1].reset(c.q_dim());
    hess[2].reset(c.dim);
    hess[3].reset(c.hidden_dim);
    for (auto& cap : captured) cap.x.clear();
    LinearInputHook hook = [&](InputSite s, const float* in, int rows, int dim) {
      const auto h0 = Clock::now();
      hess[site_index(s)].add(in, rows);
      bt.hessian_add += secs(h0, Clock::now());
      if (opt.capture_stride > 0) {
        CapturedInputs& cap = captured[site_index(s)];
        cap.dim = dim;
        for (int t = 0; t < rows; t += opt.capture_stride) cap.x.insert(cap.x.end(), in + int64_t(t) * dim, in + int64_t(t + 1) * dim);
      }
    };
    for (int64_t i = 0; i < nl; ++i) {
      acts.load(i, x.data());
      block_forward(c, l, b, rope, x.data(), T, 0, k.data(), v.data(), scratch, &hook, /*inputs_only=*/true);
      pass_progress(l, 0, i, "Hessian pass");
    }
    HessianAccumulator::release_scratch();  // the fp32 SYRK batch (0.48 GB at 11008 wide) is not needed until the next pass
    if (ranks) {  // every rank ends with the sums (and SBA's token sample) of all windows
      const auto r0 = Clock::now();
      const std::vector<int> roots =
          opt.hessian_roots ? opt.hessian_roots(hess) : std::vector<int>(std::size(hess), HessianAccumulator::kEveryRank);
      SLIM_CHECK(roots.size() == std::size(hess), "internal: {} Hessian roots for {} sites", roots.size(), std::size(hess));
      for (size_t i = 0; i < roots.size(); ++i) hess[i].reduce_over_ranks(roots[i], opt.hessian_wire);
      if (opt.capture_stride > 0)
        for (auto& cap : captured) {
          const std::vector<std::byte> all = dist::allgather(std::as_bytes(std::span(cap.x)));
          cap.x.resize(all.size() / sizeof(float));
          std::memcpy(cap.x.data(), all.data(), all.size());
        }
      bt.reduce = secs(r0, Clock::now());
    }
    auto t1 = Clock::now();
    bt.hessian_pass = secs(t0, t1) - bt.reduce;
    if (ref) {  // the reference stream through the ORIGINAL block: the hook's targets, the next block's reference
      for (int64_t i = 0; i < nl; ++i) {
        ref->load(i, x.data());
        block_forward(c, l, b, rope, x.data(), T, 0, k.data(), v.data(), scratch);
        ref->store(i, x.data());
        pass_progress(l, 1, i, "reference pass");
      }
      const auto tr = Clock::now();
      bt.reference = secs(t1, tr);
      t1 = tr;
    }
    // (2) Quantize the block's linears.
    for (auto& lin : b.linears()) {
      LinearJob job{l, lin.name, lin.linear, &hess[site_index(lin.site)],
                    opt.capture_stride > 0 ? &captured[site_index(lin.site)] : nullptr, hess};
      quantize(job);
      prog.update_fraction(l + double(passes - 1) / passes, fmt::format("layer {} {}", l, lin.name));
    }
    if (opt.finish_block) {
      BlockStreams st;
      st.windows = nl;
      st.seqlen = T;
      st.inputs = [&acts](int64_t i, float* out) { acts.load(i, out); };
      if (ref) st.reference = [&ref](int64_t i, float* out) { ref->load(i, out); };
      opt.finish_block(l, b, st);
    }
    for (auto& h : hess) h.release();  // the next block starts new sums; meanwhile the propagation needs the memory
    auto t2 = Clock::now();
    bt.quantize = secs(t1, t2);
    // (3) Propagate through the quantized block.
    for (int64_t i = 0; i < nl; ++i) {
      acts.load(i, x.data());
      block_forward(c, l, b, rope, x.data(), T, 0, k.data(), v.data(), scratch);
      acts.store(i, x.data());
      pass_progress(l, passes - 1, i, "propagation");
    }
    {
      auto refs = b.linears();
      for (size_t j = 0; j < refs.size(); ++j) {
        const std::weak_ptr<const void> now = refs[j].linear->w.storage();
        if (!now.owner_before(widened[j]) && !widened[j].owner_before(now)) {  // not replaced
          refs[j].linear->w = source[j];
        } else if (source[j].is_view()) {  // replaced: the mapped source pages are done with
          drop_mapped_pages(source[j].raw(), size_t(source[j].bytes()));
        }
      }
    }
    source.clear();
    widened.clear();
    auto t3 = Clock::now();
    bt.propagate = secs(t2, t3);
    {
      const dist::Traffic traffic1 = dist::traffic();
      bt.comm_sent_bytes = double(traffic1.sent - traffic0.sent);
      bt.comm_received_bytes = double(traffic1.received - traffic0.received);
      bt.comm_packed_raw_bytes = double(traffic1.packed_raw - traffic0.packed_raw);
      bt.comm_packed_bytes = double(traffic1.packed - traffic0.packed);
      bt.comm_pack_seconds = traffic1.pack_seconds - traffic0.pack_seconds;
    }
    std::span<const std::byte> next_inputs = acts.bytes(), next_reference;
    if (ref) next_reference = ref->bytes();
    if (opt.times) opt.times->push_back(bt);  // before block_done, so a checkpoint can include it
    if (opt.block_done) opt.block_done(l, next_inputs, next_reference);
    if (opt.times) opt.times->back().block_done = secs(t3, Clock::now());
    const double tok_s = double((ref ? 3 : 2) * n * T) * (l + 1 - opt.start_block) / std::max(1e-9, prog.elapsed_s());
    prog.update(l + 1, fmt::format("{:.0f} calibration tok/s, RSS {:.2f} GiB (anonymous {:.2f})", tok_s,
                                   double(current_rss_bytes()) / (1 << 30), double(anonymous_rss_bytes()) / (1 << 30)));
  }
  prog.finish();
}

MemoryNeed sequential_memory(const ModelConfig& c, int64_t nsamples, int64_t seqlen, const SequentialOptions& opt) {
  // Per rank: its share of the windows (dist/comm.h), which is also all it
  // checkpoints; the Hessian reduction packs the widest upper triangle twice.
  const int ranks = dist::size();
  const int64_t tokens = dist::share_of(nsamples, 0, ranks).count() * seqlen;
  const int64_t d = c.dim, q = c.q_dim(), h = c.hidden_dim, widest = std::max({d, q, h});
  const int64_t act_bytes = opt.fp16_activations ? 2 : 4;
  MemoryNeed need;
  need.add("calibration windows", nsamples * seqlen * 4);
  const int streams = opt.reference_stream ? 2 : 1;
  if (opt.scratch_dir.empty()) need.add("calibration activations", streams * tokens * d * act_bytes);
  if (ranks > 1) {
    need.add("Hessian reduction", widest * (widest + 1) * 8);
    need.add("every site's GPTQ factor (built by one rank each)", (2 * d * d + q * q + h * h) * 4);
  }
  // One block widened to fp32 while it is calibrated and quantized.
  need.add("one block in fp32", 4 * (d * (2 * q + 2 * int64_t(c.kv_dim())) + 3 * d * h));
  // Four accumulators: packed fp64 upper triangles (calib/hessian.h), and one
  // fp32 dim x dim batch, the widest, during the Hessian pass only.
  need.add("Hessians", (d * (d + 1) + q * (q + 1) / 2 + h * (h + 1) / 2) * 8);
  need.add("Hessian batch", widest * widest * 4, "Hessian pass");
  if (opt.capture_stride > 0)
    need.add("captured inputs", (nsamples * seqlen + opt.capture_stride - 1) / opt.capture_stride * (2 * d + q + h) * 4);
  need.add("block buffers", block_activation_bytes(c, seqlen));
  return need;
}

}  // namespace slim
