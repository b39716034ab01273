#include "quant/pipeline.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "calib/sequential.h"
#include "grad/block_grad.h"
#include "quant/alloc.h"
#include "quant/bits.h"
#include "dist/comm.h"
#include "quant/gptq.h"
#include "quant/gptq_ranks.h"
#include "quant/lwc_train.h"
#include "quant/quantizer.h"
#include "quant/salience.h"
#include "quant/sba.h"
#include "quant/sqc.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "util/progress.h"

namespace slim {

namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  double weights = 0, bits = 0, seconds = 0;
  int damp_retries = 0;
};

nlohmann::json layer_line(int layer, const char* name, const Linear& L, const QuantizeOptions& opt,
                          std::span<const int> gbits, double seconds, Totals& tot) {
  const double bits = linear_storage_bits(L.out(), L.in(), opt.group_size, gbits);
  tot.weights += double(L.out()) * double(L.in());
  tot.bits += bits;
  tot.seconds += seconds;
  return {{"layer", layer},
          {"name", name},
          {"shape", {L.out(), L.in()}},
          {"bits", opt.bits},
          {"group_size", opt.group_size},
          {"groups", gbits.size()},
          {"bits_per_weight", bits / (double(L.out()) * double(L.in()))},
          {"seconds", seconds}};
}

void check_finite(const Linear& L, int layer, const char* name) {
  SLIM_CHECK(!L.packed, "layer {} {}: the model is already packed; quantize the original model", layer, name);
  for (int64_t i = 0; i < L.w.numel(); ++i)
    SLIM_CHECK(std::isfinite(L.w.data()[i]), "layer {} {}: the weights contain NaN or Inf", layer, name);
}

// Error table of one linear for the error-driven criteria (alloc.h), widths N-1..N+max_up.
GroupErrors layer_errors(const Linear& L, const std::vector<double>& h, const QuantizeOptions& opt) {
  SalienceOptions so;
  so.damp = opt.damp;
  so.group_size = opt.group_size;
  const SalienceResult sal = compute_salience(L.w.span(), L.out(), L.in(), h, so);
  return group_errors(L.w.span(), L.out(), L.in(), h, sal.u_diag, opt.group_size, opt.bits - 1,
                      opt.bits + opt.sba_max_up, parse_alloc_criterion(opt.sba_criterion));
}

// Bookkeeping of a layer allocated by an error criterion (bl.bits set).
void finish_error_layer(BitmapLayer& bl, const QuantizeOptions& opt) {
  bl.k = int(std::count_if(bl.bits.begin(), bl.bits.end(), [&](int b) { return b < opt.bits; }));
  bl.k_up = int(std::count_if(bl.bits.begin(), bl.bits.end(), [&](int b) { return b > opt.bits; }));
  bl.method = "sba-" + opt.sba_criterion;
  bl.scope = opt.sba_scope;
}

// Several ranks: which of a block's input sites are factored by all ranks
// together (ScaLAPACK, at least opt.dist_factor_min wide) and which rank
// builds each of the others (factor_owners; dims 0 keep the shared sites out
// of the owners' balance).
struct FactorPlan {
  std::vector<char> shared;
  std::vector<int> owner;
};
FactorPlan factor_plan(std::span<const HessianAccumulator> sites, bool reference_inverse, const QuantizeOptions& opt) {
  FactorPlan p;
  std::vector<int64_t> dims;
  for (const HessianAccumulator& s : sites) {
    p.shared.push_back(dist::factor_over_ranks_available() && !reference_inverse && s.dim() >= opt.dist_factor_min);
    dims.push_back(p.shared.back() ? 0 : s.dim());
  }
  p.owner = factor_owners(dims, dist::size());
  return p;
}

dist::Wire hessian_wire(const QuantizeOptions& opt) {
  SLIM_CHECK(opt.hessian_wire == "fp64" || opt.hessian_wire == "fp64-raw" || opt.hessian_wire == "fp32",
             "hessian wire {:?}: fp64, fp64-raw or fp32", opt.hessian_wire);
  if (opt.hessian_wire == "fp32") return dist::Wire::kFp32;
  return opt.hessian_wire == "fp64-raw" ? dist::Wire::kFp64Raw : dist::Wire::kFp64;
}

// Whether SBA reads H itself (not only the factor): the error criteria, and
// a ranking that cannot come from the factor (faithful: absolute damp;
// act-order: permuted U). Every rank then needs every site's sum.
bool allocation_reads_hessian(const QuantizeOptions& opt) {
  const bool slim = opt.method == "slim" || opt.method == "slim+";
  return slim && opt.sba && !opt.bitmap && (opt.faithful || opt.act_order || opt.sba_criterion != "kl");
}

// Whether that allocation needs H whole (salience from H itself: faithful,
// or act-order, whose factor is permuted) or only its diagonal blocks (the
// error criteria with GPTQ's own denominators, the default).
bool allocation_reads_square_hessian(const QuantizeOptions& opt) {
  return allocation_reads_hessian(opt) && (opt.faithful || opt.act_order);
}

// The Hessian-derived state of the input site being quantized. q/k/v (and
// gate/up) read one input and come one after another, and GPTQ's factor
// (dead columns, damp retries, U) and SliM's default salience denominators
// depend only on H and the damp: built once per site and block, the result
// is bit-identical to building them per linear. One rank keeps one entry:
// the next site replaces it (the accumulators are reused from block to
// block, so the key includes the block). Several ranks build the factors of
// all the block's sites at its first linear, each rank its share of the sites
// (factor_owners), and broadcast them: every rank holds them all.
struct SiteCache {
  int layer = -1;
  const HessianAccumulator* site = nullptr;
  std::vector<double> h;  // (in, in) H; kept only when SBA's salience reads H whole
  HessianBlocks hb;       // H's diagonal blocks, for SBA's error criteria otherwise
  std::optional<GptqFactor> own;          // one rank: the site's factor
  std::vector<GptqFactor> block_factors;  // several ranks: by site, of block `layer`
  const GptqFactor* factor = nullptr;     // the site's, in own or block_factors
  std::vector<int> site_bits;             // --sba-scope site: the site's widths, once per site
  // Several ranks, at a block's first linear: the seconds from the end of the
  // distributed factors to the owned factors' arrival, unpacked (what the
  // overlap leaves on the critical path; the report's
  // factor_broadcast_finish_seconds); else < 0.
  double broadcast_wait_s = -1;

  // At the end of a block: nothing here is reused by the next block, and the
  // last site's U (fp32, in x in: 3 GiB at 70B's 28672-wide down_proj input)
  // would otherwise stay through the propagation and the next Hessian pass.
  void release() {
    layer = -1;
    site = nullptr;
    factor = nullptr;
    std::vector<double>().swap(h);
    hb = {};
    own.reset();
    std::vector<GptqFactor>().swap(block_factors);
    site_bits.clear();
    broadcast_wait_s = -1;
  }

  void select(const LinearJob& job, const GptqOptions& go, const QuantizeOptions& opt) {
    if (job.layer == layer && job.hessian == site) return;
    const bool new_block = job.layer != layer;
    layer = job.layer;
    site = job.hessian;
    factor = nullptr;
    site_bits.clear();
    own.reset();  // free the old U before building the next
    std::vector<double>().swap(h);
    hb = {};
    if (dist::size() == 1 || job.block_sites.empty()) {
      // U comes straight from the accumulator's packed sum: no square copy of
      // H next to the factorisation (issue 10's memory).
      own = gptq_factor(job.hessian->packed(), job.hessian->diagonal(), job.linear->in(), go);
      factor = &*own;
    } else {
      if (new_block) build_block_factors(job, go, opt);
      factor = &block_factors[size_t(job.hessian - job.block_sites.data())];
    }
    // H for SBA, made after the factor's fp64 work matrix is freed (with
    // several ranks it was reduced to every rank: hessian_roots): whole only
    // when the salience reads it, else the diagonal blocks the error
    // criteria read (the same values: group_errors' tables are identical).
    if (allocation_reads_square_hessian(opt)) h = job.hessian->hessian();
    else if (allocation_reads_hessian(opt)) hb = hessian_blocks(job.hessian->packed(), job.linear->in(), opt.group_size);
  }

  // Sites at least opt.dist_factor_min wide (with ScaLAPACK) are factored by
  // all ranks together, in site order, from every rank's slice of the sum
  // (or the whole sum when SBA needed it everywhere); the rest by their
  // owners, who alone hold those sites' sums (hessian_roots). The owners
  // build theirs first, and their U travels while the shared factors are
  // computed (the network is idle during their arithmetic): the owned
  // factors' broadcast leaves the critical path (docs/RESULTS.md, ranks).
  void build_block_factors(const LinearJob& job, const GptqOptions& go, const QuantizeOptions& opt) {
    const auto& sites = job.block_sites;
    const FactorPlan plan = factor_plan(sites, go.reference_inverse, opt);
    block_factors.assign(sites.size(), {});
    for (size_t i = 0; i < sites.size(); ++i)
      if (!plan.shared[i] && plan.owner[i] == dist::rank())
        block_factors[i] = gptq_factor(sites[i].packed(), sites[i].diagonal(), sites[i].dim(), go);
    std::vector<FactorBroadcast> sending;
    for (size_t i = 0; i < sites.size(); ++i)
      if (!plan.shared[i]) sending.push_back(start_factor_broadcast(block_factors[i], plan.owner[i]));
    for (size_t i = 0; i < sites.size(); ++i) {
      if (!plan.shared[i]) continue;
      const HessianAccumulator& s = sites[i];
      block_factors[i] = s.holds_sum()
                             ? gptq_factor_over_ranks(s.hessian(), s.dim(), go, opt.dist_factor_block)
                             : gptq_factor_over_ranks(s.slice(), s.slice_diagonal(), s.dim(), go, opt.dist_factor_block);
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (FactorBroadcast& b : sending) finish_factor_broadcast(b);
    broadcast_wait_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

// The bit-map entry of one linear, before its bits are chosen.
BitmapLayer bitmap_entry(const LinearJob& job, const QuantizeOptions& opt) {
  BitmapLayer bl;
  bl.block = job.layer;
  bl.name = job.name;
  bl.rows = job.linear->out();
  bl.cols = job.linear->in();
  bl.group_size = opt.group_size;
  bl.target_bits = opt.bits;
  return bl;
}

// The default ranking is GPTQ's own denominators (relative damp, dead
// columns zeroed), which the site's factor holds unless act-order permuted it.
SalienceResult default_salience(const Linear& L, const SiteCache& site, const QuantizeOptions& opt) {
  if (site.factor->act_order) return compute_salience(L.w.span(), L.out(), L.in(), site.h, {opt.damp, opt.group_size});
  return salience_from_factor(L.w.span(), L.out(), L.in(), *site.factor, opt.group_size);
}

// One linear's error table under the error criteria (obs, hessian), widths
// N-1 .. N+max_up; collective: the rows are divided among the ranks (the
// same table, byte for byte, on any number of ranks).
GroupErrors linear_group_errors(const Linear& L, const SiteCache& site, const QuantizeOptions& opt) {
  const SalienceResult sal = default_salience(L, site, opt);
  const AllocCriterion crit = parse_alloc_criterion(opt.sba_criterion);
  const HessianBlocks from_square = site.h.empty() ? HessianBlocks() : hessian_blocks(site.h, L.in(), opt.group_size);
  return group_errors_over_ranks(L.w.span(), L.out(), L.in(), site.h.empty() ? site.hb : from_square, sal.u_diag,
                                 opt.group_size, opt.bits - 1, opt.bits + opt.sba_max_up, crit);
}

// The group widths that keep the table's rows at exactly N bits on average.
std::vector<int> allocate_from_errors(const GroupErrors& ge, const QuantizeOptions& opt) {
  AllocOptions ao;
  ao.bits = opt.bits;
  ao.max_up = opt.sba_max_up;
  return allocate_group_bits({&ge, 1}, ao)[0];
}

// Site scope (--sba-scope site): the linears that read one input (q/k/v;
// gate/up) get the same width for each column group, allocated on the sum of
// their error tables. That is exactly SBA on the fused matrix (rows q|k|v,
// gate|up) that Phi-3 checkpoints store: its rows are independent given the
// shared H, so its error table is the sum of its parts' tables. Equal widths
// on every row keep each member at exactly N bits per weight, as layer scope
// does. Runs at the site's first linear, while the others still hold their
// original weights (they are quantized after it, with the same H).
std::vector<int> site_allocation(std::span<const Linear* const> members, const SiteCache& site,
                                 const QuantizeOptions& opt) {
  SLIM_CHECK(!site.factor->act_order, "--sba-scope site does not support --act-order");
  SLIM_CHECK(!members.empty(), "--sba-scope site: the linear's input site has no linears");
  GroupErrors fused;
  for (const Linear* L : members) {
    GroupErrors ge = linear_group_errors(*L, site, opt);
    if (fused.err.empty()) {
      fused = std::move(ge);
      continue;
    }
    fused.rows += ge.rows;
    for (size_t i = 0; i < fused.err.size(); ++i) fused.err[i] += ge.err[i];
  }
  return allocate_from_errors(fused, opt);
}

// SliM-LLM's bit allocation for one linear: per-group bits (N-1/N/N+1) from
// SBA's KL search on the captured inputs, or from a saved bit map. `members`:
// the linears of the job's input site (site scope only).
BitmapLayer allocate_bits(const LinearJob& job, SiteCache& site, const QuantizeOptions& opt,
                          std::span<const Linear* const> members) {
  const Linear& L = *job.linear;
  BitmapLayer bl = bitmap_entry(job, opt);
  bl.variant = opt.faithful ? "faithful" : "default";
  if (opt.bitmap) {
    const BitmapLayer* saved = opt.bitmap->find(job.layer, job.name);
    SLIM_CHECK(saved != nullptr, "--bitmap has no entry for layer {} {}", job.layer, job.name);
    SLIM_CHECK(saved->rows == L.out() && saved->cols == L.in() && saved->group_size == opt.group_size &&
                   saved->target_bits == opt.bits,
               "--bitmap entry for layer {} {} was made for another shape, group size or bit width", job.layer,
               job.name);
    return *saved;
  }
  const int64_t groups = n_groups(L.in(), opt.group_size);
  if (!opt.sba) {
    bl.bits.assign(size_t(groups), opt.bits);
    bl.method = "uniform";
    return bl;
  }
  if (opt.sba_scope == "site") {
    if (site.site_bits.empty()) site.site_bits = site_allocation(members, site, opt);
    bl.bits = site.site_bits;
    finish_error_layer(bl, opt);
    return bl;
  }
  if (opt.sba_criterion != "kl") {
    bl.bits = allocate_from_errors(linear_group_errors(L, site, opt), opt);
    finish_error_layer(bl, opt);
    return bl;
  }
  SalienceOptions so;
  so.damp = opt.damp;
  so.group_size = opt.group_size;
  so.faithful = opt.faithful;
  const SalienceResult sal =
      opt.faithful ? compute_salience(L.w.span(), L.out(), L.in(), site.h, so) : default_salience(L, site, opt);
  SbaOptions sb;
  sb.bits = opt.bits;
  sb.group_size = opt.group_size;
  sb.faithful = opt.faithful;
  std::vector<ActivationBlock> acts;
  if (job.inputs) acts.push_back({job.inputs->x.data(), job.inputs->tokens()});
  SbaResult r = sba_search(L.w.span(), L.out(), L.in(), sal.group, acts, sb);
  bl.bits = r.group_bits;
  if (opt.faithful) {  // the reference re-ranks with GPTQ's relatively damped H before assigning
    bl.bits = sba_assign(default_salience(L, site, opt).group, opt.bits, r.k, L.in(), opt.group_size);
  }
  bl.k = r.k;
  bl.k_up = r.k;
  bl.kl_k_first = r.k_first;
  bl.kl = r.kl;
  bl.method = "sba-kl";
  bl.token_stride = 1;
  return bl;
}

// Model-scope allocation (alloc.h): a pre-pass over the calibration data with
// the ORIGINAL weights collects every linear's error table, one allocation is
// solved for the whole model, and the quantization pass then follows it like
// a saved bit map. The pre-pass Hessians see the un-quantized prefix (the
// quantization pass sees the quantized one); the difference only shifts the
// error estimates, never the exact budget.
Bitmap model_scope_allocation(Model& m, const CalibWindows& calib, const QuantizeOptions& opt) {
  std::vector<GroupErrors> tables;
  Bitmap map;
  SequentialOptions so;
  so.fp16_activations = opt.fp16_activations;
  so.scratch_dir = opt.scratch_dir;
  so.progress = opt.progress;
  so.hessian_wire = hessian_wire(opt);
  run_sequential(
      m, calib,
      [&](LinearJob& job) {
        const Linear& L = *job.linear;
        check_finite(L, job.layer, job.name);
        const std::vector<double> h = job.hessian->hessian();
        tables.push_back(layer_errors(L, h, opt));
        if (opt.sba_normalize == "output") {
          const double e = output_energy(L.w.span(), L.out(), L.in(), h);
          for (double& v : tables.back().err) v /= e > 0 ? e : 1.0;
        }
        map.layers.push_back(bitmap_entry(job, opt));
      },
      so);
  AllocOptions ao;
  ao.bits = opt.bits;
  ao.max_up = opt.sba_max_up;
  ao.model_scope = true;
  if (opt.sba_scope == "model") {
    auto bits = allocate_group_bits(tables, ao);
    for (size_t i = 0; i < map.layers.size(); ++i) map.layers[i].bits = std::move(bits[i]);
  } else {  // "depth": one budget per linear kind (all q_proj, all down_proj, ...), shared across blocks
    std::map<std::string, std::vector<size_t>> kinds;
    for (size_t i = 0; i < map.layers.size(); ++i) kinds[map.layers[i].name].push_back(i);
    for (const auto& [name, idx] : kinds) {
      std::vector<GroupErrors> sub;
      for (size_t i : idx) sub.push_back(tables[i]);
      auto bits = allocate_group_bits(sub, ao);
      for (size_t j = 0; j < idx.size(); ++j) map.layers[idx[j]].bits = std::move(bits[j]);
    }
  }
  for (auto& l : map.layers) finish_error_layer(l, opt);
  return map;
}

}  // namespace

namespace {
// Every n-th calibration token kept as SBA's layer inputs (0: none kept).
int capture_stride(int64_t total_tokens, const QuantizeOptions& opt) {
  const bool slim = opt.method == "slim" || opt.method == "slim+";
  if (!(slim && opt.sba && !opt.bitmap && opt.sba_criterion == "kl")) return 0;
  // SBA's KL search needs the layer inputs; about 8k tokens per layer pick
  // the full-token k* in 5 of 6 7B-shaped cases, 0.5% KL off in the sixth (docs/RESULTS.md).
  return opt.sba_token_stride > 0 ? opt.sba_token_stride : int(std::max<int64_t>(1, total_tokens / 8192));
}
}  // namespace

MemoryNeed quantize_memory(const ModelConfig& c, int nsamples, int seqlen, const QuantizeOptions& opt) {
  if (opt.method == "rtn") return {};
  SequentialOptions so;
  so.fp16_activations = opt.fp16_activations;
  so.scratch_dir = opt.scratch_dir;
  so.capture_stride = capture_stride(int64_t(nsamples) * seqlen, opt);
  so.reference_stream = opt.method == "slim+";
  MemoryNeed need = sequential_memory(c, nsamples, seqlen, so);
  // What no part names: OpenBLAS's per-thread buffers, the allocator's
  // arenas, the binary. The measured peaks were 0.06-0.25 GiB above the
  // parts' sum (docs/RESULTS.md: 7B-wide and 70B-wide, 8 x 512 and 128 x 2048).
  need.add("runtime (BLAS buffers, allocator)", int64_t(256) << 20);
  // GPTQ on the widest input: the factorisation's fp64 square (U in fp32
  // grows into the pages its consumed rows give back); then, in the column
  // loop, U in fp32, the working weights and the dequantized result of the
  // largest linear (fp32 each), and a square fp64 copy of H when SBA's
  // salience reads H whole (SiteCache::select makes it after the fp64 work
  // matrix is freed; the error criteria's diagonal blocks are small). The
  // working copies were missing: 70B-wide slim peaked 0.8 GiB above.
  const int64_t widest = std::max({int64_t(c.dim), int64_t(c.q_dim()), int64_t(c.hidden_dim)});
  const int64_t largest = int64_t(c.dim) * std::max<int64_t>(c.q_dim(), c.hidden_dim);  // weights of the largest linear
  const int64_t square = widest * widest;
  const int64_t blocks = allocation_reads_hessian(opt) ? 8 * widest * std::min<int64_t>(widest, group_width(widest, opt.group_size)) : 0;
  need.add("GPTQ factorisation",
           std::max(8 * square, 4 * square + 8 * largest + (allocation_reads_square_hessian(opt) ? 8 * square : blocks)),
           "quantization");
  if (opt.method == "slim+") {
    const LwcTrainOptions lo = lwc_train_options(opt);
    std::vector<int64_t> steps;
    const int64_t here = int64_t(lwc_rank_windows(nsamples, std::max(lo.batch, dist::size()), 0, dist::size(), &steps).size());
    for (auto& part : lwc_train_memory(c, here, seqlen, opt.group_size, lo).parts) need.add(part.what, part.bytes, part.phase);
  }
  return need;
}

void validate_quantize_options(const QuantizeOptions& opt) {
  SLIM_CHECK(opt.bits >= 1 && opt.bits <= 8, "--bits must be in 1..8, got {}", opt.bits);
  SLIM_CHECK(opt.group_size == -1 || opt.group_size >= 1, "--group-size must be -1 or positive, got {}",
             opt.group_size);
  SLIM_CHECK(opt.method == "rtn" || opt.method == "gptq" || opt.method == "slim" || opt.method == "slim+",
             "unknown --method '{}' (rtn, gptq, slim, slim+)", opt.method);
  const bool slim = opt.method == "slim" || opt.method == "slim+";
  SLIM_CHECK(!opt.params_out || !opt.act_order || opt.static_groups,
             "packing needs each group to be a contiguous run of columns: --act-order needs --static-groups");
  SLIM_CHECK(!slim || (opt.bits >= 2 && opt.bits <= 4), "--method slim allocates N-1/N/N+1 bits: --bits must be 2, 3 or 4");
  SLIM_CHECK(std::isfinite(opt.damp) && opt.damp >= 0, "--damp must be a finite number >= 0, got {}", opt.damp);
  SLIM_CHECK(std::isfinite(opt.sqc_lambda) && opt.sqc_lambda > 0, "--sqc-lambda must be a finite number > 0, got {}",
             opt.sqc_lambda);
  SLIM_CHECK(std::isfinite(opt.sqc_p_min) && opt.sqc_p_min > 0 && opt.sqc_p_min < 1,
             "--sqc-p-min must be in (0, 1), got {}", opt.sqc_p_min);
  SLIM_CHECK(opt.sqc_binary_iters >= 0, "--sqc-binary-iters must be >= 0, got {}", opt.sqc_binary_iters);
  SLIM_CHECK(opt.sba_token_stride >= 0, "--sba-token-stride must be >= 0 (0 = automatic), got {}",
             opt.sba_token_stride);
  const std::string refine =
      opt.sqc_refine == "default" ? (opt.bits == 3 && !opt.faithful ? "auto" : "all") : opt.sqc_refine;
  const int local_min_bits = sqc_local_min_bits(refine);  // throws on an unknown mode
  SLIM_CHECK(opt.sqc_coarse == 0 || (opt.sqc_coarse >= 2 && opt.sqc_coarse <= 50),
             "--sqc-coarse must be 0 (grid order) or 2..50, got {}", opt.sqc_coarse);
  SLIM_CHECK(local_min_bits == 0 || opt.sqc_coarse >= 2, "--sqc-refine {} needs --sqc-coarse 2..50", refine);
  SLIM_CHECK(opt.sba_criterion == "kl" || opt.sba_criterion == "obs" || opt.sba_criterion == "hessian",
             "unknown --sba-criterion '{}' (kl, obs, hessian)", opt.sba_criterion);
  SLIM_CHECK(opt.sba_scope == "layer" || opt.sba_scope == "site" || opt.sba_scope == "depth" ||
                 opt.sba_scope == "model",
             "unknown --sba-scope '{}' (layer, site, depth, model)",
             opt.sba_scope);
  SLIM_CHECK(opt.sba_normalize == "none" || opt.sba_normalize == "output",
             "unknown --sba-normalize '{}' (none, output)", opt.sba_normalize);
  SLIM_CHECK(opt.sba_max_up == 1 || opt.sba_max_up == 2, "--sba-max-up must be 1 or 2, got {}", opt.sba_max_up);
  SLIM_CHECK(opt.sba_criterion != "kl" || (opt.sba_scope == "layer" && opt.sba_max_up == 1),
             "--sba-scope site/depth/model and --sba-max-up 2 need an error criterion (--sba-criterion obs or hessian)");
  SLIM_CHECK(!opt.faithful || (opt.sba_criterion == "kl" && opt.sqc_p_min == 0.9 && opt.sqc_binary_iters == 0),
             "--faithful reproduces the reference: it needs --sba-criterion kl, --sqc-p-min 0.9, --sqc-binary-iters 0");
  if (opt.method == "slim+") {  // lwc_train_block checks these too, but only at the first block
    SLIM_CHECK(opt.lwc_epochs >= -1, "--lwc-epochs must be >= 0 (or -1: default), got {}", opt.lwc_epochs);
    SLIM_CHECK(std::isfinite(opt.lwc_lr) && opt.lwc_lr > 0, "--lwc-lr must be a finite number > 0, got {}",
               opt.lwc_lr);
    SLIM_CHECK(opt.lwc_batch >= 1, "--lwc-batch must be >= 1, got {}", opt.lwc_batch);
    SLIM_CHECK(opt.lwc_init.empty() || opt.lwc_init == "minmax" || opt.lwc_init == "slim",
               "unknown --lwc-init '{}' (minmax, slim)", opt.lwc_init);
    SLIM_CHECK(opt.lwc_weights.empty() || opt.lwc_weights == "raw" || opt.lwc_weights == "gptq",
               "unknown --lwc-weights '{}' (raw, gptq)", opt.lwc_weights);
  }
}

nlohmann::json quantize_model(Model& m, const CalibWindows* calib, const QuantizeOptions& opt_in, Bitmap* bitmap_out) {
  validate_quantize_options(opt_in);
  QuantizeOptions opt = opt_in;  // a model-scope allocation is then used as a bit map
  // SliM-LLM+ takes SliM's bit allocation per linear, then trains each block
  // (finish_block below, quant/lwc_train.h) against a full-precision stream.
  const bool plus = opt.method == "slim+";
  const bool slim = opt.method == "slim" || plus;
  const LwcTrainOptions lwc_opt = lwc_train_options(opt);
  // slim+ runs SliM's GPTQ + SQC (on a copy) only for its ranges or updated weights.
  const bool plus_runs_slim = plus && (lwc_opt.init == "slim" || lwc_opt.weights == "gptq");
  nlohmann::json lwc_blocks = nlohmann::json::array();  // slim+: one training record per block
  // Refused before any calibration work, not at block 0's first training step.
  if (plus && calib) grad::check_block_trainable(m.config, calib->seqlen);
  if (opt.sqc_refine == "default") opt.sqc_refine = opt.bits == 3 && !opt.faithful ? "auto" : "all";
  const int local_min_bits = sqc_local_min_bits(opt.sqc_refine);
  Bitmap bitmap;
  nlohmann::json layers = nlohmann::json::array();
  std::vector<BlockTimes> block_times;
  Totals tot;
  auto t_start = Clock::now();
  const int start_block = opt.resume ? opt.resume->start_block : 0;
  if (opt.resume) {  // the finished blocks' report lines and allocations
    SLIM_CHECK(!slim || !opt.sba || opt.sba_scope == "layer" || opt.sba_scope == "site" || opt.bitmap,
               "resuming needs --sba-scope layer (a model-scope allocation is not checkpointed)");
    layers = opt.resume->layers;
    bitmap = opt.resume->bitmap;
    lwc_blocks = opt.resume->blocks;
    for (const auto& rec : lwc_blocks) tot.seconds += rec.value("seconds", 0.0);
    for (const auto& line : layers) {
      const double w = line["shape"][0].get<double>() * line["shape"][1].get<double>();
      tot.weights += w;
      tot.bits += line["bits_per_weight"].get<double>() * w;
      tot.seconds += line["seconds"].get<double>();
      if (line.contains("damp_retries")) tot.damp_retries += line["damp_retries"].get<int>();
    }
  }

  if (opt.method == "rtn") {
    Progress prog("block", m.config.n_layers, opt.progress);
    for (int l = start_block; l < m.config.n_layers; ++l) {
      for (auto& ref : m.weights.blocks[size_t(l)].linears()) {
        Linear& L = *ref.linear;
        const Tensor source = L.w;
        L.w = L.w.to_f32();  // one linear at a time in fp32
        check_finite(L, l, ref.name);
        auto t0 = Clock::now();
        std::vector<float> q(size_t(L.w.numel()));
        std::vector<QuantParams> params;
        rtn_quantize(L.w.data(), L.out(), L.in(), opt.bits, opt.group_size, q.data(), &params);
        L.w = Tensor::from(std::move(q), L.out(), L.in());
        std::vector<int> gb(size_t(n_groups(L.in(), opt.group_size)), opt.bits);
        if (opt.params_out) opt.params_out->push_back({l, ref.name, opt.group_size, gb, std::move(params)});
        layers.push_back(layer_line(l, ref.name, L, opt, gb,
                                    std::chrono::duration<double>(Clock::now() - t0).count(), tot));
        if (source.is_view()) drop_mapped_pages(source.raw(), size_t(source.bytes()));
      }
      if (opt.block_done) opt.block_done(l, {layers, bitmap, {}});
      prog.update(l + 1);
    }
    prog.finish();
  } else {
    SLIM_CHECK(calib != nullptr && !calib->tokens.empty(), "GPTQ needs calibration data (--calib)");
    SequentialOptions so;
    so.fp16_activations = opt.fp16_activations;
    so.scratch_dir = opt.scratch_dir;
    so.progress = opt.progress;
    Bitmap model_alloc;
    if (slim && opt.sba && !opt.bitmap && opt.sba_scope != "layer" && opt.sba_scope != "site") {
      model_alloc = model_scope_allocation(m, *calib, opt);
      opt.bitmap = &model_alloc;
    }
    so.capture_stride = capture_stride(int64_t(calib->tokens.size()) * calib->seqlen, opt);
    so.times = &block_times;
    if (opt.block_done)
      so.block_done = [&](int l, std::span<const std::byte> next, std::span<const std::byte> next_ref) {
        opt.block_done(l, {layers, bitmap, next, next_ref, lwc_blocks});
      };
    if (opt.resume) {
      so.start_block = start_block;
      so.load_inputs = opt.resume->load_inputs;
      so.load_reference = opt.resume->load_reference;
    }
    std::vector<SlimLinearResult> slim_results;  // slim+: SliM's results of the block's linears, in order
    SiteCache site;
    so.finish_block = [&site](int, BlockWeights&, const BlockStreams&) { site.release(); };
    if (plus) {
      const int64_t n = int64_t(calib->tokens.size());
      so.reference_stream = true;
      so.windows = lwc_rank_windows(n, lwc_opt.batch, dist::rank(), dist::size(), nullptr);
      so.finish_block = [&, n](int l, BlockWeights& b, const BlockStreams& streams) {
        site.release();
        nlohmann::json rec = lwc_train_block(m.config, l, b, streams, n, bitmap, slim_results, lwc_opt, opt.params_out);
        slim_results.clear();
        tot.seconds += rec["seconds"].get<double>();
        lwc_blocks.push_back(std::move(rec));
      };
    }
    // Each owned site's sum goes to the rank that factors it, each shared
    // (ScaLAPACK) site's in slices; every site's to every rank when SBA reads H.
    if (!allocation_reads_hessian(opt))
      so.hessian_roots = [&opt](std::span<const HessianAccumulator> sites) {
        const FactorPlan plan = factor_plan(sites, /*reference_inverse=*/false, opt);
        std::vector<int> roots(sites.size());
        for (size_t i = 0; i < sites.size(); ++i)
          roots[i] = plan.shared[i] ? HessianAccumulator::kSliced : plan.owner[i];
        return roots;
      };
    so.hessian_wire = hessian_wire(opt);
    run_sequential(
        m, *calib,
        [&](LinearJob& job) {
          Linear& L = *job.linear;
          check_finite(L, job.layer, job.name);
          auto t0 = Clock::now();
          GptqOptions go;
          go.bits = opt.bits;
          go.group_size = opt.group_size;
          go.damp = opt.damp;
          go.act_order = opt.act_order;
          go.static_groups = opt.static_groups;
          const auto tf = Clock::now();
          site.select(job, go, opt);
          const double factor_s = std::chrono::duration<double>(Clock::now() - tf).count();
          double alloc_s = 0;
          auto sqc_ns = std::make_shared<std::atomic<int64_t>>(0);
          if (slim) {
            const auto ta = Clock::now();
            std::vector<const Linear*> members;  // the job's input site (site scope)
            if (opt.sba_scope == "site" && opt.sba && !opt.bitmap) {
              auto refs = m.weights.blocks[size_t(job.layer)].linears();
              const auto me = std::find_if(refs.begin(), refs.end(), [&](auto& r) { return r.linear == job.linear; });
              for (const auto& r : refs)
                if (me != refs.end() && r.site == me->site) members.push_back(r.linear);
            }
            BitmapLayer bl = allocate_bits(job, site, opt, members);
            alloc_s = std::chrono::duration<double>(Clock::now() - ta).count();
            go.group_bits = bl.bits;
            if (opt.sqc) {
              SqcOptions sq;
              sq.lambda = opt.sqc_lambda;
              sq.faithful = opt.faithful;
              sq.p_min = opt.sqc_p_min;
              sq.binary_iters = opt.sqc_binary_iters;
              sq.coarse = opt.sqc_coarse;
              sq.local_min_bits = local_min_bits;
              // Timed: SQC's share of GPTQ for the report (called from GPTQ's threads).
              go.fitter = [fit = make_sqc_fitter(sq), sqc_ns](const float* w, int64_t rows, int64_t width, int64_t ld,
                                                              std::span<const double> u, int bits, QuantParams* out) {
                const auto t = Clock::now();
                fit(w, rows, width, ld, u, bits, out);
                *sqc_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count();
              };
            }
            bitmap.layers.push_back(std::move(bl));
          }
          // slim+ without SliM's ranges or weights needs the bit map only.
          std::optional<GptqResult> r;
          const auto tg = Clock::now();
          if (!plus || plus_runs_slim) r = gptq_quantize_over_ranks(L.w.span(), L.out(), L.in(), *site.factor, go);
          const double gptq_s = std::chrono::duration<double>(Clock::now() - tg).count();
          const std::vector<int> gbits = r ? r->group_bits : bitmap.layers.back().bits;
          if (plus) {  // the block keeps its original weights for training; SliM's result goes to the trainer
            if (r) slim_results.push_back({std::move(r->params), std::move(r->q)});
          } else {
            if (opt.params_out) opt.params_out->push_back({job.layer, job.name, opt.group_size, r->group_bits, r->params});
            L.w = Tensor::from(std::move(r->q), L.out(), L.in());
          }
          auto line = layer_line(job.layer, job.name, L, opt, gbits,
                                 std::chrono::duration<double>(Clock::now() - t0).count(), tot);
          line["factor_seconds"] = factor_s;
          line["hessian_diag_mean"] = site.factor->hessian_diag_mean;
          if (site.broadcast_wait_s >= 0) line["factor_broadcast_finish_seconds"] = std::exchange(site.broadcast_wait_s, -1.0);
          line["allocation_seconds"] = alloc_s;
          line["gptq_seconds"] = gptq_s;  // SQC included
          line["sqc_seconds"] = double(sqc_ns->load()) * 1e-9;
          if (r) {
            line["gptq_loss"] = r->loss;
            line["damp"] = r->damp_used;
            line["damp_retries"] = r->damp_retries;
            line["dead_columns"] = r->dead_columns;
          }
          if (slim) {
            const BitmapLayer& bl = bitmap.layers.back();
            line["sba_k"] = bl.k;
            line["sba_method"] = bl.method;
            line["bits_histogram"] = {{"low", std::count(bl.bits.begin(), bl.bits.end(), opt.bits - 1)},
                                      {"mid", std::count(bl.bits.begin(), bl.bits.end(), opt.bits)},
                                      {"high", std::count(bl.bits.begin(), bl.bits.end(), opt.bits + 1)}};
          }
          if (r) tot.damp_retries += r->damp_retries;
          if (r && r->damp_retries > 0)
            fmt::print(stderr, "\nlayer {} {}: Hessian not positive definite; damp raised to {:g} after {} retries\n",
                       job.layer, job.name, r->damp_used, r->damp_retries);
          layers.push_back(std::move(line));
        },
        so);
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - t_start).count();
  if (bitmap_out) *bitmap_out = std::move(bitmap);
  // Whole-model size: quantized linears at their storage cost, the rest fp16.
  const double other = double(m.config.n_params()) - tot.weights;
  // Every rank's received bytes per block (the rest of the report is rank
  // 0's): the links of the busiest rank bound the time.
  std::vector<double> received;  // (ranks, blocks)
  {
    std::vector<double> mine;
    for (const BlockTimes& b : block_times) mine.push_back(b.comm_received_bytes);
    const std::vector<std::byte> all = dist::allgather(std::as_bytes(std::span(mine)));
    received.resize(all.size() / sizeof(double));
    if (!all.empty()) std::memcpy(received.data(), all.data(), all.size());  // RTN: no blocks timed
  }
  nlohmann::json blocks = nlohmann::json::array();
  for (size_t i = 0; i < block_times.size(); ++i) {
    nlohmann::json by_rank = nlohmann::json::array();
    for (int r = 0; r < dist::size(); ++r) by_rank.push_back(received[size_t(r) * block_times.size() + i]);
    const BlockTimes& b = block_times[i];
    blocks.push_back({{"layer", b.layer},
                      {"hessian_pass_seconds", b.hessian_pass},
                      {"hessian_add_seconds", b.hessian_add},
                      {"quantize_seconds", b.quantize},
                      {"propagate_seconds", b.propagate},
                      {"reference_seconds", b.reference},
                      {"write_seconds", b.block_done},
                      {"reduce_seconds", b.reduce},
                      {"comm_sent_bytes", b.comm_sent_bytes},
                      {"comm_received_bytes", b.comm_received_bytes},
                      {"comm_received_bytes_by_rank", by_rank},
                      {"comm_packed_raw_bytes", b.comm_packed_raw_bytes},
                      {"comm_packed_bytes", b.comm_packed_bytes},
                      {"comm_pack_seconds", b.comm_pack_seconds},
                      {"forward_gflop", b.forward_gflop},
                      {"hessian_pass_gflop", b.hessian_pass_gflop},
                      {"propagate_gflops", b.propagate > 0 ? b.forward_gflop / b.propagate : 0.0}});
  }
  nlohmann::json report = {{"layers", layers},
          {"blocks", blocks},
          {"totals",
           {{"method", opt.method},
            {"bits", opt.bits},
            {"group_size", opt.group_size},
            {"ranks", dist::size()},
            {"quantized_weights", tot.weights},
            {"bits_per_weight", tot.bits / tot.weights},
            {"model_bits_per_weight_fp16_rest", (tot.bits + other * 16.0) / double(m.config.n_params())},
            {"damp_retries", tot.damp_retries},
            {"quantize_seconds", tot.seconds},
            {"total_seconds", total_s}}}};
  if (plus)
    report["lwc"] = {{"blocks", lwc_blocks},        {"epochs", lwc_opt.epochs}, {"lr", lwc_opt.lr},
                     {"weight_decay", lwc_opt.weight_decay}, {"aug_loss", lwc_opt.aug_loss},
                     {"batch", lwc_opt.batch},      {"init", lwc_opt.init},     {"weights", lwc_opt.weights}};
  return report;
}

}  // namespace slim
