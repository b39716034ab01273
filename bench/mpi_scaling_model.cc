// Projected wall time of a multi-rank quantization (issue 15) from MEASURED
// per-part costs: a 1-rank quant_report.json gives the rates of this machine
// (forward GFLOP/s, Hessian syrk GFLOP/s, seconds per dim³ of a GPTQ factor,
// per rows·cols² of the GPTQ loop, per weight of the bit allocation), a
// 2-rank report of the same run checks the byte counts below against what
// the ranks really sent. Then, per decoder block on N nodes:
//   forward + syrk        over ceil(windows / N) windows          (split by windows)
//   GPTQ factors           sites at least --dist-factor-min wide: all ranks together
//                          (ScaLAPACK, dist/factor.h), at --dist-factor-speedup2 / 2 of
//                          linear scaling (the measured 2-rank speed-up over LAPACK);
//                          then the most loaded rank's other sites (factor_owners)
//   GPTQ loop              ceil(rows / N) rows of every linear     (split by rows)
//   allocation (slim)      ceil(blocks / N) 64-row blocks of every linear (split by rows;
//                          the error-table terms allgathered, quant/alloc.h)
//   network                Hessian reduce-scatter (packed upper triangles, fp64), then the
//                          gather of each owned site to the rank that factors it, and each
//                          distributed site's entries sent to the ranks whose pieces need
//                          them (~1/N of its triangle each, plus the diagonal); the owned
//                          sites' factor broadcasts (fp32 U's upper triangle), the quantized rows allgathered
//                          as codes at --bits plus fp16 scale and zero per group (quant/
//                          row_codes.h); the distributed factors' panel
//                          broadcasts (pdpotrf and pdtrtri: ~n²/2 · (1/pr + 1/pc) fp64 each
//                          per rank on a pr x pc grid) and U allgather (fp32 upper
//                          triangle), plus a latency of --latency-us per hop, 2 broadcasts
//                          of log2(grid side) hops per block step, n / 64 steps per
//                          routine: the bytes of the rank that receives most / link
//                          bandwidth, not overlapping compute but for the one overlap below. Each rank checkpoints its
//                          own windows (no gather to rank 0); --gather puts the old
//                          checkpoint gather back for comparison, --allreduce-hessians the
//                          old Hessian allreduce to every rank, --fp32-rows the old fp32 rows,
//                          --full-u the old owned-factor broadcast of U's whole square;
//                          --hessian-wire-fp32 the reduce-scatter's summands in fp32 (slim
//                          quantize --hessian-wire fp32; the sums travel on in fp64).
//                          --hessian-pack K:R,... the fp64 summands packed without loss
//                          (dist/wire_pack.h), R = packed / raw bytes MEASURED with K
//                          windows per rank (quant_report.json comm_packed_*): with w =
//                          ceil(windows / N) windows per rank, the R of the smallest
//                          measured K >= w (more windows, more significant bits), none:
//                          unpacked; packing and unpacking at --pack-gbs GB/s of fp64
//                          per core (bench/bench_wire_pack), counted in the block's time.
//                          One overlap: the owned factors' broadcast runs during the
//                          distributed factors' arithmetic (hidden up to its length);
//                          --no-overlap puts it after them, as before.
// A node is `cores` times the measured single-core rates (linear: optimistic
// for compute, so pessimistic for the speed-up, whose loss is the network
// and the replicated parts). Without --dist-factor-speedup2 every factor is
// built by one rank (the build without ScaLAPACK).
//   mpi_scaling_model --report R1.json [--report2 R2.json] [--measured-cores 1] [--cores 16]
//                     [--dist-factor-speedup2 S] [--dist-factor-min 8192] [--latency-us 20] [--gather]
//                     [--allreduce-hessians] [--hessian-wire-fp32] [--hessian-pack K:R,... --pack-gbs G]
//                     [--no-overlap] [--fp32-rows] [--full-u] [--bits B] [--json OUT]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "quant/gptq_ranks.h"

namespace {

using nlohmann::json;

struct Shape {
  const char* name;
  int64_t dim, hidden, q_dim, kv_dim, layers;
};

struct Lin {
  int64_t rows, cols;
};

std::vector<Lin> linears(const Shape& s) {
  return {{s.q_dim, s.dim}, {s.kv_dim, s.dim}, {s.kv_dim, s.dim}, {s.dim, s.q_dim},
          {s.hidden, s.dim}, {s.hidden, s.dim}, {s.dim, s.hidden}};
}
std::vector<int64_t> sites(const Shape& s) { return {s.dim, s.q_dim, s.dim, s.hidden}; }

struct Rates {  // of ONE core, measured
  double fwd_gflops = 0, syrk_gflops = 0;
  double factor_s_per_d3 = 0, gptq_s_per_rc2 = 0, alloc_s_per_w = 0;
};

// How the factors are divided (the pipeline's rule) and what the network costs.
struct Setup {
  double dist_efficiency = 0;  // 0: no distributed factor; else its parallel efficiency
  int64_t dist_min = 8192;
  double latency_s = 20e-6;
  bool gather = false;         // the old checkpoint gather to rank 0
  bool allreduce_hessians = false;  // the old Hessian allreduce to every rank
  bool fp32_rows = false;      // the old fp32 rows (+ fp32 scale and zero)
  bool full_u = false;         // the old owned-factor broadcast: U's whole square, its zero lower half too
  bool hessian_fp32 = false;   // --hessian-wire fp32: the reduce-scatter's summands as fp32
  bool no_overlap = false;     // the old order: owned factors broadcast after the distributed ones
  double bits = 4;             // bits per weight of the rows sent as codes
  bool sba_tables = false;     // slim: SBA's error-table terms allgathered (3 widths per group and 64-row block)
  std::vector<std::pair<double, double>> pack;  // (windows per rank, packed / raw) measured, ascending
  double pack_gbs = 0;         // fp64 GB/s per core of packing, and of unpacking
  bool shared(int64_t d, int N) const { return dist_efficiency > 0 && N > 1 && d >= dist_min; }
  // packed / raw of the fp64 summands with `w` windows per rank: the measured
  // point with the fewest windows >= w (1 where none was measured, or fp32).
  double pack_fraction(double w) const {
    if (hessian_fp32) return 1;
    for (const auto& [k, r] : pack)
      if (k >= w) return r;
    return 1;
  }
};

// The most square pr x pc grid of N ranks (dist/factor_scalapack.cc).
void grid_shape(int N, int& pr, int& pc) {
  pr = 1;
  for (int r = 1; r * r <= N; ++r)
    if (N % r == 0) pr = r;
  pc = N / pr;
}

// One site's packed upper triangle of fp64 sums, bytes.
double triangle_bytes(int64_t d) { return double(d) * double(d + 1) / 2 * 8; }

double block_weights(const Shape& s) {
  double w = 0;
  for (const Lin& l : linears(s)) w += double(l.rows) * double(l.cols);
  return w;
}
// One forward pass over `windows` windows of T tokens, GFLOP (as calib/sequential.cc counts it).
double forward_gflop(const Shape& s, double windows, double T) {
  return windows * (2.0 * T * block_weights(s) + 2.0 * double(s.q_dim) * T * (T + 1)) / 1e9;
}
double hessian_pass_gflop(const Shape& s, double windows, double T) {
  return forward_gflop(s, windows, T) - windows * 2.0 * T * double(s.dim) * double(s.hidden) / 1e9;
}
double syrk_gflop(const Shape& s, double tokens) {
  double f = 0;
  for (int64_t d : sites(s)) f += tokens * double(d) * double(d + 1) / 1e9;
  return f;
}

struct Bytes {  // that one rank receives per block
  double reduce = 0, factors = 0, dist_factor = 0, rows = 0, gather_root = 0;
  double total() const { return reduce + factors + dist_factor + rows + gather_root; }
};

// Rank `rank` of N; the slowest link is that of the rank receiving most.
Bytes block_bytes(const Shape& s, int N, double windows, double T, int group, int rank, const Setup& setup) {
  Bytes b;
  if (N == 1) return b;
  const double f = double(N - 1) / N;
  const std::vector<int64_t> d = sites(s);
  std::vector<int64_t> owned = d;
  for (auto& x : owned) x = setup.shared(x, N) ? 0 : x;
  const std::vector<int> owner = slim::factor_owners(owned, N);
  int pr = 1, pc = 1;
  grid_shape(N, pr, pc);
  for (size_t i = 0; i < d.size(); ++i) {
    const double n = double(d[i]);
    const double packed = triangle_bytes(d[i]);
    const double scatter =  // the summands' bytes
        setup.hessian_fp32 ? packed / 2 : packed * setup.pack_fraction(std::ceil(windows / N));
    if (setup.allreduce_hessians) {
      b.reduce += f * scatter + f * packed;  // reduce-scatter + allgather (of fp64 sums)
    } else {
      b.reduce += f * scatter;  // reduce-scatter
      if (setup.shared(d[i], N))
        b.reduce += f * packed / N + f * n * 8;  // this rank's piece from the others, the diagonal allgather
      else if (owner[i] == rank)
        b.reduce += f * packed;  // the gather of the other slices
    }
    if (setup.shared(d[i], N)) {
      // pdpotrf + pdtrtri panel broadcasts along the grid's rows and columns,
      // then the other ranks' fp32 upper triangles and fp64 diagonals
      b.dist_factor += 2 * n * n / 2 * (1.0 / pr + 1.0 / pc) * 8 + f * (n * (n + 1) / 2 * 4 + n * 8);
    } else if (owner[i] != rank) {
      // U fp32 (upper triangle), u_diag fp64, perm int64, dead flag: from the rank that built it
      b.factors += (setup.full_u ? n * n : n * (n + 1) / 2) * 4 + n * 17;
    }
  }
  double rows = 0;
  for (const Lin& l : linears(s)) {
    const double groups = double(l.rows) * std::ceil(double(l.cols) / group);
    rows += setup.fp32_rows ? double(l.rows) * double(l.cols) * 4 + groups * 8
                            : double(l.rows) * std::ceil(double(l.cols) * setup.bits / 8) + groups * 4;
  }
  if (setup.sba_tables)  // per linear, (groups, 64-row blocks, 3 widths) fp64 terms: this rank's from the others
    for (const Lin& l : linears(s)) {
      const double blocks = std::ceil(double(l.rows) / 64), mine = std::ceil(blocks / N);
      rows += (blocks - mine) * std::ceil(double(l.cols) / group) * 3 * 8 / f;  // (b.rows is f · rows)
    }
  b.rows = f * rows;
  b.gather_root = setup.gather && rank == 0 ? f * windows * T * double(s.dim) * 2 : 0;
  return b;
}

struct BlockTime {
  double forward = 0, syrk = 0, factors = 0, gptq = 0, alloc = 0, pack = 0, net = 0;
  double total() const { return forward + syrk + factors + gptq + alloc + pack + net; }
};

BlockTime block_time(const Shape& s, const Rates& r, int N, int cores, double windows, double T, bool slim,
                     double gbit, int group, const Setup& setup) {
  BlockTime t;
  const double w_rank = std::ceil(windows / N);
  t.forward = (forward_gflop(s, w_rank, T) + hessian_pass_gflop(s, w_rank, T)) / (r.fwd_gflops * cores);
  t.syrk = syrk_gflop(s, w_rank * T) / (r.syrk_gflops * cores);
  const std::vector<int64_t> d = sites(s);
  std::vector<int64_t> owned = d;
  for (auto& x : owned) x = setup.shared(x, N) ? 0 : x;
  const std::vector<int> owner = slim::factor_owners(owned, N);
  std::vector<double> load(size_t(N), 0.0);
  int pr = 1, pc = 1;
  grid_shape(N, pr, pc);
  double latency = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    const double cost = std::pow(double(d[i]), 3) * r.factor_s_per_d3 / cores;
    if (setup.shared(d[i], N)) {
      t.factors += cost / (N * setup.dist_efficiency);
      latency += 2 * std::ceil(double(d[i]) / 64) * 2 * std::ceil(std::log2(double(std::max(pr, pc)))) * setup.latency_s;
    } else {
      load[size_t(owner[i])] += cost;
    }
  }
  const double shared_compute = t.factors;  // the distributed factors' arithmetic, all ranks
  // Packing the summands for the other ranks, unpacking theirs: (N-1)/N of
  // every site's fp64 triangle each way, on all the node's cores.
  if (N > 1 && setup.pack_fraction(std::ceil(windows / N)) < 1) {
    double raw = 0;
    for (int64_t di : d) raw += triangle_bytes(di);
    t.pack = 2 * raw * double(N - 1) / N / (setup.pack_gbs * 1e9 * cores);
  }
  t.factors += *std::max_element(load.begin(), load.end());
  for (const Lin& l : linears(s)) {
    t.gptq += std::ceil(double(l.rows) / N) * double(l.cols) * double(l.cols) * r.gptq_s_per_rc2 / cores;
    // SBA's error tables: 64-row blocks divided among the ranks (quant/alloc.h group_errors_over_ranks).
    if (slim) t.alloc += std::min(double(l.rows), std::ceil(std::ceil(double(l.rows) / 64) / N) * 64) * double(l.cols) *
                         r.alloc_s_per_w / cores;
  }
  // The owners build their factors first and broadcast them while the
  // distributed factors compute (quant/pipeline.cc build_block_factors): a
  // rank's owned-factor bytes hide under that arithmetic, up to its length.
  const double bw = gbit * 1e9 / 8;
  double net = 0;
  for (int rank = 0; rank < N; ++rank) {
    const Bytes b = block_bytes(s, N, windows, T, group, rank, setup);
    const double hidden = setup.no_overlap ? 0 : std::min(b.factors / bw, shared_compute);
    net = std::max(net, b.total() / bw - hidden);
  }
  t.net = net + latency;
  return t;
}

json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  return json::parse(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::string report1, report2, json_out;
  int measured_cores = 1, cores = 16;
  Setup setup;
  double speedup2 = 0;
  std::string pack_arg;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--report") && i + 1 < argc) report1 = argv[++i];
    else if (!std::strcmp(argv[i], "--report2") && i + 1 < argc) report2 = argv[++i];
    else if (!std::strcmp(argv[i], "--measured-cores") && i + 1 < argc) measured_cores = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--cores") && i + 1 < argc) cores = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_out = argv[++i];
    else if (!std::strcmp(argv[i], "--dist-factor-speedup2") && i + 1 < argc) speedup2 = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--dist-factor-min") && i + 1 < argc) setup.dist_min = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--latency-us") && i + 1 < argc) setup.latency_s = std::atof(argv[++i]) * 1e-6;
    else if (!std::strcmp(argv[i], "--gather")) setup.gather = true;
    else if (!std::strcmp(argv[i], "--allreduce-hessians")) setup.allreduce_hessians = true;
    else if (!std::strcmp(argv[i], "--hessian-wire-fp32")) setup.hessian_fp32 = true;
    else if (!std::strcmp(argv[i], "--hessian-pack") && i + 1 < argc) pack_arg = argv[++i];
    else if (!std::strcmp(argv[i], "--pack-gbs") && i + 1 < argc) setup.pack_gbs = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-overlap")) setup.no_overlap = true;
    else if (!std::strcmp(argv[i], "--fp32-rows")) setup.fp32_rows = true;
    else if (!std::strcmp(argv[i], "--full-u")) setup.full_u = true;
    else if (!std::strcmp(argv[i], "--bits") && i + 1 < argc) setup.bits = std::atof(argv[++i]);
    else {
      fmt::print(stderr, "usage: mpi_scaling_model --report R1.json [--report2 R2.json] [--measured-cores 1] "
                         "[--cores 16] [--dist-factor-speedup2 S] [--dist-factor-min 8192] [--latency-us 20] "
                         "[--gather] [--allreduce-hessians] [--hessian-wire-fp32] [--hessian-pack K:R,... --pack-gbs G] "
                         "[--no-overlap] [--fp32-rows] [--full-u] [--bits B] [--json OUT]\n");
      return 2;
    }
  }
  if (report1.empty() || measured_cores < 1 || cores < 1 || speedup2 < 0 || speedup2 > 2 || setup.dist_min < 1 ||
      setup.latency_s < 0 || !(setup.bits >= 1 && setup.bits <= 8)) {
    fmt::print(stderr, "mpi_scaling_model: --report is required; cores must be >= 1, --dist-factor-speedup2 in "
                       "(0, 2], --dist-factor-min >= 1, --latency-us >= 0, --bits in [1, 8]\n");
    return 2;
  }
  setup.dist_efficiency = speedup2 / 2;
  for (size_t at = 0; !pack_arg.empty() && at < pack_arg.size();) {  // K:R,K:R,...
    const size_t end = std::min(pack_arg.find(',', at), pack_arg.size());
    const std::string item = pack_arg.substr(at, end - at);
    char* rest = nullptr;
    const double k = std::strtod(item.c_str(), &rest);
    const double r = *rest == ':' ? std::strtod(rest + 1, &rest) : -1;
    if (!(k >= 1) || !(r > 0 && r <= 1) || *rest) {
      fmt::print(stderr, "mpi_scaling_model: --hessian-pack: '{}' is not WINDOWS:FRACTION (windows >= 1, "
                         "fraction in (0, 1])\n", item);
      return 2;
    }
    setup.pack.emplace_back(k, r);
    at = end + 1;
  }
  std::sort(setup.pack.begin(), setup.pack.end());
  if (!setup.pack.empty() && !(setup.pack_gbs > 0)) {
    fmt::print(stderr, "mpi_scaling_model: --hessian-pack needs --pack-gbs (fp64 GB/s per core, bench_wire_pack)\n");
    return 2;
  }
  try {
    const json r1 = read_json(report1);
    const double n = r1["calibration"]["nsamples"].get<double>(), T = r1["calibration"]["seqlen"].get<double>();
    const bool slim_method = r1["totals"]["method"] == "slim";
    setup.sba_tables = slim_method;
    const int group = r1["totals"]["group_size"].get<int>();
    // The measured model's shape, from its report lines (q_proj, k_proj, gate_proj, down_proj).
    Shape m{"measured", 0, 0, 0, 0, 0};
    for (const auto& l : r1["layers"]) {
      const std::string nm = l["name"];
      const int64_t rows = l["shape"][0], cols = l["shape"][1];
      if (nm == "q_proj") m.dim = cols, m.q_dim = rows;
      if (nm == "k_proj") m.kv_dim = rows;
      if (nm == "down_proj") m.hidden = cols;
      m.layers = std::max<int64_t>(m.layers, l["layer"].get<int64_t>() + 1);
    }
    if (!m.dim || !m.hidden || !m.q_dim || !m.kv_dim) throw std::runtime_error(report1 + ": no LLaMA-style linears");
    Rates r;
    double fwd_s = 0, fwd_gf = 0, syrk_s = 0, syrk_gf = 0;
    for (const auto& b : r1["blocks"]) {
      fwd_s += b["hessian_pass_seconds"].get<double>() - b["hessian_add_seconds"].get<double>() +
               b["propagate_seconds"].get<double>();
      fwd_gf += b["forward_gflop"].get<double>() + b["hessian_pass_gflop"].get<double>();
      syrk_s += b["hessian_add_seconds"].get<double>();
      syrk_gf += syrk_gflop(m, n * T);
    }
    double fac_s = 0, fac_d3 = 0, gptq_s = 0, gptq_rc2 = 0, alloc_s = 0, w = 0;
    for (const auto& l : r1["layers"]) {
      const double rows = l["shape"][0], cols = l["shape"][1];
      const std::string nm = l["name"];
      fac_s += l["factor_seconds"].get<double>();
      if (nm == "q_proj" || nm == "o_proj" || nm == "gate_proj" || nm == "down_proj") fac_d3 += cols * cols * cols;
      gptq_s += l["gptq_seconds"].get<double>();
      gptq_rc2 += rows * cols * cols;
      alloc_s += l["allocation_seconds"].get<double>();
      w += rows * cols;
    }
    r.fwd_gflops = fwd_gf / fwd_s / measured_cores;
    r.syrk_gflops = syrk_gf / syrk_s / measured_cores;
    r.factor_s_per_d3 = fac_s / fac_d3 * measured_cores;
    r.gptq_s_per_rc2 = gptq_s / gptq_rc2 * measured_cores;
    r.alloc_s_per_w = alloc_s / w * measured_cores;
    json out;
    out["measured"] = {{"report", report1}, {"method", r1["totals"]["method"]}, {"cores", measured_cores},
                       {"nsamples", n}, {"seqlen", T},
                       {"per_core", {{"forward_gflops", r.fwd_gflops}, {"syrk_gflops", r.syrk_gflops},
                                     {"factor_seconds_per_dim3", r.factor_s_per_d3},
                                     {"gptq_seconds_per_rows_cols2", r.gptq_s_per_rc2},
                                     {"allocation_seconds_per_weight", r.alloc_s_per_w}}}};
    fmt::print("measured ({}, {} on {} core(s), {} x {} tokens): forward {:.1f} GFLOP/s/core, syrk {:.1f} GFLOP/s/core,\n"
               "  factor {:.3g} s/dim^3, GPTQ loop {:.3g} s/(rows cols^2), allocation {:.3g} s/weight (one core)\n",
               report1, r1["totals"]["method"].get<std::string>(), measured_cores, n, T, r.fwd_gflops, r.syrk_gflops,
               r.factor_s_per_d3, r.gptq_s_per_rc2, r.alloc_s_per_w);
    if (!report2.empty()) {  // the byte model against the 2-rank run's own count
      const json r2 = read_json(report2);
      double measured = 0, packed_raw = 0, packed = 0;
      int blocks = 0;
      for (const auto& b : r2["blocks"]) {
        measured += b["comm_received_bytes"].get<double>(), ++blocks;
        packed_raw += b.value("comm_packed_raw_bytes", 0.0), packed += b.value("comm_packed_bytes", 0.0);
      }
      // ScaLAPACK's own panel broadcasts (BLACS) are not in the ranks' counters: the check
      // compares the rest, the distributed factors' U allgather included. The packed
      // summands count as the run measured them (the model's raw bytes less what
      // packing saved there), so the check stays exact.
      Setup unpacked = setup;  // as the 2-rank run was made: its method, its windows
      unpacked.pack.clear();
      unpacked.sba_tables = r2["totals"]["method"] == "slim";
      const double n2 = r2["calibration"]["nsamples"].get<double>(), T2 = r2["calibration"]["seqlen"].get<double>();
      const Bytes b = block_bytes(m, 2, n2, T2, r2["totals"]["group_size"].get<int>(), 0, unpacked);
      int pr = 1, pc = 1;
      grid_shape(2, pr, pc);
      double panels = 0;
      for (int64_t d : sites(m))
        if (setup.shared(d, 2)) panels += 2 * double(d) * double(d) / 2 * (1.0 / pr + 1.0 / pc) * 8;
      const double saved = (packed_raw - packed) / std::max(blocks, 1);
      const double model = b.total() - panels - saved;
      fmt::print("bytes per block, 2 ranks, rank 0 received: measured {:.1f} MB, model {:.1f} MB "
                 "(reduce {:.1f}, owned factors {:.1f}, distributed factors' U {:.1f}, rows {:.1f}, checkpoint "
                 "gather {:.1f}; + ScaLAPACK panels, not counted, {:.1f})\n",
                 measured / blocks / 1e6, model / 1e6, (b.reduce - saved) / 1e6, b.factors / 1e6,
                 (b.dist_factor - panels) / 1e6, b.rows / 1e6, b.gather_root / 1e6, panels / 1e6);
      out["bytes_check"] = {{"measured_per_block", measured / blocks}, {"model_per_block", model}};
      if (packed_raw > 0) {
        double raw_model = 0;  // the other rank's half of every site's fp64 triangle
        for (int64_t d : sites(m)) raw_model += triangle_bytes(d) / 2;
        fmt::print("  fp64 summands packed: {:.1f} of {:.1f} MB per block (ratio {:.4f}; model's raw {:.1f} MB), "
                   "{:g} windows per rank\n", packed / blocks / 1e6, packed_raw / blocks / 1e6, packed / packed_raw,
                   raw_model / 1e6, std::ceil(n2 / 2));
        out["bytes_check"]["packed_ratio"] = packed / packed_raw;
      }
    }
    const Shape targets[] = {{"LLaMA-2-7B", 4096, 11008, 4096, 4096, 32}, {"LLaMA-2-70B", 8192, 28672, 8192, 1024, 80}};
    const double tn = 128, tT = 2048;
    fmt::print("\nprojected, {} windows x {} tokens, nodes of {} cores ({} x the measured core), method {}\n", tn, tT,
               cores, cores, r1["totals"]["method"].get<std::string>());
    if (setup.dist_efficiency > 0)
      fmt::print("factors of sites >= {} wide over all ranks at efficiency {:.2f}; latency {:.0f} us; {}\n",
                 setup.dist_min, setup.dist_efficiency, setup.latency_s * 1e6,
                 setup.gather ? "checkpoint gathered on rank 0" : "each rank checkpoints its own windows");
    else
      fmt::print("every factor built by one rank; {}\n",
                 setup.gather ? "checkpoint gathered on rank 0" : "each rank checkpoints its own windows");
    std::string pack_text;
    for (const auto& [k, r] : setup.pack) pack_text += fmt::format("{}{:g}:{:.4f}", pack_text.empty() ? "" : ",", k, r);
    fmt::print("Hessians {} (summands in {}); quantized rows sent {}; owned factors sent as U's {}\n",
               setup.allreduce_hessians ? "allreduced to every rank" : "reduced to the ranks that factor them",
               setup.hessian_fp32 ? "fp32"
               : setup.pack.empty()
                   ? "fp64, unpacked"
                   : fmt::format("fp64 packed, measured packed/raw at windows per rank {} ({:g} GB/s a core)",
                                 pack_text, setup.pack_gbs),
               setup.fp32_rows ? "as fp32" : fmt::format("as {:g}-bit codes + fp16 scale and zero", setup.bits),
               setup.full_u ? "whole square" : "upper triangle");
    out["setup"] = {{"dist_factor_efficiency", setup.dist_efficiency}, {"dist_factor_min", setup.dist_min},
                    {"latency_us", setup.latency_s * 1e6}, {"gather", setup.gather},
                    {"allreduce_hessians", setup.allreduce_hessians}, {"fp32_rows", setup.fp32_rows},
                    {"full_u", setup.full_u}, {"hessian_wire_fp32", setup.hessian_fp32},
                    {"overlap_owned_factors", !setup.no_overlap}, {"bits", setup.bits},
                    {"hessian_pack", pack_text}, {"pack_gbs", setup.pack_gbs}};
    fmt::print("{:<12} {:>7} {:>6} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6} {:>9} {:>8} {:>6}\n", "model",
               "network", "nodes", "s/block", "forward", "syrk", "factors", "gptq", "alloc", "pack", "network", "hours",
               "eff");
    out["projections"] = json::array();
    for (const Shape& s : targets) {
      const double t1 = block_time(s, r, 1, cores, tn, tT, slim_method, 10, group, setup).total();
      for (double gbit : {10.0, 100.0})
        for (int N : {1, 8, 32, 64}) {
          const BlockTime t = block_time(s, r, N, cores, tn, tT, slim_method, gbit, group, setup);
          const double speedup = t1 / t.total();
          fmt::print("{:<12} {:>5.0f}Gb {:>6} {:>10.1f} {:>9.1f} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>6.3f} {:>9.2f} {:>8.2f} "
                     "{:>6.3f}\n",
                     s.name, gbit, N, t.total(), t.forward, t.syrk, t.factors, t.gptq, t.alloc, t.pack, t.net,
                     t.total() * double(s.layers) / 3600, speedup / N);
          out["projections"].push_back({{"model", s.name}, {"gbit", gbit}, {"nodes", N}, {"seconds_per_block", t.total()},
                                        {"hours", t.total() * double(s.layers) / 3600}, {"speedup", speedup},
                                        {"efficiency", speedup / N},
                                        {"parts", {{"forward", t.forward}, {"syrk", t.syrk}, {"factors", t.factors},
                                                   {"gptq", t.gptq}, {"allocation", t.alloc}, {"pack", t.pack},
                                                   {"network", t.net}}}});
        }
    }
    // Where the busiest rank's bytes go at 32 nodes (the goal's point).
    for (const Shape& s : targets) {
      Bytes worst;
      for (int r = 0; r < 32; ++r) {
        const Bytes b = block_bytes(s, 32, tn, tT, group, r, setup);
        if (b.total() > worst.total()) worst = b;
      }
      fmt::print("{} at 32 nodes, busiest rank per block: {:.3f} GB = Hessians {:.3f}, owned factors {:.3f}, "
                 "distributed factors (panels + U) {:.3f}, quantized rows {:.3f}, checkpoint gather {:.3f}\n",
                 s.name, worst.total() / 1e9, worst.reduce / 1e9, worst.factors / 1e9, worst.dist_factor / 1e9,
                 worst.rows / 1e9, worst.gather_root / 1e9);
    }
    if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  } catch (const std::exception& e) {
    fmt::print(stderr, "mpi_scaling_model: {}\n", e.what());
    return 1;
  }
  return 0;
}
