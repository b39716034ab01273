// Open MPI behind dist/comm.h. Large payloads are moved in pieces below
// 2 GiB (MPI counts are int); reductions use Alltoallv + a local sum in rank
// order + Allgatherv, so the order of the additions never depends on the
// algorithm Open MPI picks or on timing.
// The C API only (Open MPI's deprecated C++ bindings would need libmpi_cxx).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "dist/comm.h"
#include "dist/wire_pack.h"
#include "util/anon_buffer.h"
#include "util/error.h"

namespace slim::dist {

namespace {

bool g_mpi = false;  // MPI_Init was called
int g_rank = 0, g_size = 1;
Traffic g_traffic;
constexpr size_t kPiece = size_t(1) << 30;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(fmt::format("MPI {} failed on rank {}: {}", what, g_rank, std::string(msg, size_t(len))));
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

std::vector<uint64_t> gather_sizes(uint64_t mine) {
  std::vector<uint64_t> sizes(static_cast<size_t>(g_size));
  check(MPI_Allgather(&mine, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "Allgather");
  return sizes;
}

void send_pieces(const std::byte* p, size_t n, int to) {
  for (size_t o = 0; o < n; o += kPiece)
    check(MPI_Send(p + o, int(std::min(kPiece, n - o)), MPI_BYTE, to, 7, MPI_COMM_WORLD), "Send");
  g_traffic.sent += n;
}
void recv_pieces(std::byte* p, size_t n, int from) {
  for (size_t o = 0; o < n; o += kPiece)
    check(MPI_Recv(p + o, int(std::min(kPiece, n - o)), MPI_BYTE, from, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "Recv");
  g_traffic.received += n;
}

}  // namespace

void init(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
  check(MPI_Init(argc, argv), "Init");
  g_mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
}

void finalize() {
  if (g_mpi) MPI_Finalize();
  g_mpi = false;
}

void abort(int code) {
  if (g_mpi && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

bool built_with_mpi() { return true; }
int rank() { return g_rank; }
int size() { return g_size; }

std::string describe() {
  if (g_size == 1) return "";
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("rank {}/{} on {}", g_rank, g_size, host);
}

namespace {

// The first half of the reductions: rank r receives every rank's copy of
// its slice share_of(n, r) and adds them up in rank order, so a sum never
// depends on N's algorithm choice or timing. `counts`/`displs` receive the
// slices of every rank (for the second half). The copies travel as T: double,
// or float (Wire::kFp32: rounded once, added in fp64 all the same; the send
// buffer of n floats is no more memory than the fp64 receive buffer it halves).
// The slices share_of(n, r) of every rank r, as MPI counts and displacements.
void slice_layout(int64_t n, std::vector<int>& counts, std::vector<int>& displs) {
  SLIM_CHECK(n < INT_MAX, "internal: reduction of {} values (at most {})", n, INT_MAX);
  counts.assign(static_cast<size_t>(g_size), 0);
  displs.assign(static_cast<size_t>(g_size), 0);
  for (int r = 0; r < g_size; ++r) {
    const Share s = share_of(n, r, g_size);
    counts[size_t(r)] = int(s.count());
    displs[size_t(r)] = int(s.begin);
  }
}

// The plain wires: T = float (kFp32: each value rounded once, added in fp64 all
// the same; the send buffer of n floats is no more memory than the fp64
// receive buffer it halves) or double (kFp64Raw: kFp64's bits, unpacked).
template <class T>
std::vector<double> reduce_scatter_plain(std::span<const double> data, std::vector<int>& counts,
                                         std::vector<int>& displs) {
  const int64_t n = int64_t(data.size());
  slice_layout(n, counts, displs);
  const Share mine = share_of(n, g_rank, g_size);
  std::vector<T> converted;  // fp32 only: doubles are sent from `data` as they are
  const T* send = nullptr;
  if constexpr (std::is_same_v<T, float>) {
    converted.assign(data.begin(), data.end());
    for (size_t i = 0; i < converted.size(); ++i)
      SLIM_CHECK(std::isfinite(converted[i]) || !std::isfinite(data[i]),
                 "a partial sum of {} is outside fp32's range: run with --hessian-wire fp64", data[i]);
    send = converted.data();
  } else {
    send = data.data();
  }
  std::vector<T> parts(size_t(mine.count() * g_size));
  std::vector<int> rcounts(static_cast<size_t>(g_size), int(mine.count())), rdispls(static_cast<size_t>(g_size));
  for (int r = 0; r < g_size; ++r) rdispls[size_t(r)] = int(r * mine.count());
  const MPI_Datatype type = std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
  check(MPI_Alltoallv(send, counts.data(), displs.data(), type, parts.data(), rcounts.data(), rdispls.data(), type,
                      MPI_COMM_WORLD),
        "Alltoallv");
  std::vector<double> sum(parts.begin(), parts.begin() + mine.count());
  for (int r = 1; r < g_size; ++r)
    for (int64_t i = 0; i < mine.count(); ++i) sum[size_t(i)] += double(parts[size_t(r * mine.count() + i)]);
  g_traffic.sent += uint64_t(n - mine.count()) * sizeof(T);
  g_traffic.received += uint64_t(mine.count()) * sizeof(T) * uint64_t(g_size - 1);
  return sum;
}

// The fp64 wire: each slice for another rank packed (dist/wire_pack.h) straight
// into the send buffer, moved as 8-byte words (MPI counts are int: words keep
// them as small as the values'), unpacked and added in rank order. Lossless:
// the same bits as unpacked fp64. The buffers are fresh mappings (zero pages,
// huge pages advised), so nothing is zero-filled or copied twice.
std::vector<double> reduce_scatter_fp64(std::span<const double> data, std::vector<int>& counts,
                                        std::vector<int>& displs) {
  using Clock = std::chrono::steady_clock;
  const int64_t n = int64_t(data.size());
  slice_layout(n, counts, displs);
  const Share mine = share_of(n, g_rank, g_size);
  const size_t ranks = static_cast<size_t>(g_size);
  const auto t0 = Clock::now();
  auto slice = [&](int r) { return data.subspan(size_t(displs[size_t(r)]), size_t(counts[size_t(r)])); };
  std::vector<PackPlan> plans(ranks);
  std::vector<int> scount(ranks, 0), sdispl(ranks, 0), rcount(ranks, 0), rdispl(ranks, 0);
  int64_t stotal = 0;
  for (int r = 0; r < g_size; ++r) {
    if (r == g_rank) continue;  // this rank's own summands never leave it
    plans[size_t(r)] = plan_pack(slice(r));
    scount[size_t(r)] = int((plans[size_t(r)].bytes() + 7) / 8);  // padded with zero bytes to whole words
    sdispl[size_t(r)] = int(stotal);
    stotal += scount[size_t(r)];
    SLIM_CHECK(stotal < INT_MAX, "internal: reduction sending {} words", stotal);
  }
  AnonBuffer send(size_t(std::max<int64_t>(stotal, 1)) * 8, "reduction send buffer");
  for (int r = 0; r < g_size; ++r)
    if (r != g_rank) pack_into(slice(r), plans[size_t(r)], send.as<std::byte>() + size_t(sdispl[size_t(r)]) * 8);
  std::vector<PackPlan>().swap(plans);
  double pack_s = std::chrono::duration<double>(Clock::now() - t0).count();
  check(MPI_Alltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, MPI_COMM_WORLD), "Alltoall");
  int64_t rtotal = 0;
  for (int r = 0; r < g_size; ++r) {
    rdispl[size_t(r)] = int(rtotal);
    rtotal += rcount[size_t(r)];
    SLIM_CHECK(rtotal < INT_MAX, "internal: reduction receiving {} words", rtotal);
  }
  AnonBuffer recv(size_t(std::max<int64_t>(rtotal, 1)) * 8, "reduction receive buffer");
  check(MPI_Alltoallv(send.as<uint64_t>(), scount.data(), sdispl.data(), MPI_UINT64_T, recv.as<uint64_t>(),
                      rcount.data(), rdispl.data(), MPI_UINT64_T, MPI_COMM_WORLD),
        "Alltoallv");
  send = AnonBuffer();
  const auto t1 = Clock::now();
  // Rank order, as the unpacked sums always were: rank 0's part, + rank 1's, ...
  std::vector<double> sum(static_cast<size_t>(mine.count()));
  const std::span<const double> own = data.subspan(size_t(mine.begin), size_t(mine.count()));
  for (int r = 0; r < g_size; ++r) {
    const std::span<const std::byte> words(recv.as<std::byte>() + size_t(rdispl[size_t(r)]) * 8,
                                           size_t(rcount[size_t(r)]) * 8);
    if (r == g_rank && r == 0) {
      std::copy(own.begin(), own.end(), sum.begin());
    } else if (r == g_rank) {
#pragma omp parallel for schedule(static) if (mine.count() > (1 << 16))
      for (int64_t i = 0; i < mine.count(); ++i) sum[size_t(i)] += own[size_t(i)];
    } else if (r == 0) {
      unpack_doubles(words, sum, "reduction over ranks");
    } else {
      unpack_add_doubles(words, sum, "reduction over ranks");
    }
  }
  pack_s += std::chrono::duration<double>(Clock::now() - t1).count();
  g_traffic.sent += uint64_t(stotal) * 8;
  g_traffic.received += uint64_t(rtotal) * 8;
  g_traffic.packed += uint64_t(rtotal) * 8;
  g_traffic.packed_raw += uint64_t(mine.count()) * 8 * uint64_t(g_size - 1);
  g_traffic.pack_seconds += pack_s;
  return sum;
}

std::vector<double> reduce_scatter_slices(std::span<const double> data, std::vector<int>& counts,
                                          std::vector<int>& displs, Wire wire) {
  switch (wire) {
    case Wire::kFp32: return reduce_scatter_plain<float>(data, counts, displs);
    case Wire::kFp64Raw: return reduce_scatter_plain<double>(data, counts, displs);
    case Wire::kFp64: break;
  }
  return reduce_scatter_fp64(data, counts, displs);
}

}  // namespace

void allreduce_sum(std::span<double> data, Wire wire) {
  if (g_size == 1) return;
  g_traffic.calls++;
  std::vector<int> counts, displs;
  const std::vector<double> sum = reduce_scatter_slices(data, counts, displs, wire);
  check(MPI_Allgatherv(sum.data(), int(sum.size()), MPI_DOUBLE, data.data(), counts.data(), displs.data(),
                       MPI_DOUBLE, MPI_COMM_WORLD),
        "Allgatherv");
  g_traffic.sent += uint64_t(sum.size()) * 8 * uint64_t(g_size - 1);
  g_traffic.received += uint64_t(data.size() - sum.size()) * 8;
}

std::vector<double> reduce_scatter_sum(std::span<const double> data, Wire wire) {
  if (g_size == 1) return {data.begin(), data.end()};
  g_traffic.calls++;
  std::vector<int> counts, displs;
  return reduce_scatter_slices(data, counts, displs, wire);
}

std::vector<std::vector<double>> alltoall(const std::vector<std::vector<double>>& to) {
  SLIM_CHECK(int(to.size()) == g_size, "internal: alltoall to {} ranks of {}", to.size(), g_size);
  if (g_size == 1) return to;
  g_traffic.calls++;
  const size_t ranks = static_cast<size_t>(g_size);
  std::vector<int> scount(ranks), sdispl(ranks), rcount(ranks), rdispl(ranks);
  int64_t stotal = 0, rtotal = 0;
  for (int r = 0; r < g_size; ++r) {
    SLIM_CHECK(int64_t(to[size_t(r)].size()) < INT_MAX, "internal: alltoall of {} values", to[size_t(r)].size());
    scount[size_t(r)] = int(to[size_t(r)].size());
    sdispl[size_t(r)] = int(stotal);
    stotal += scount[size_t(r)];
  }
  SLIM_CHECK(stotal < INT_MAX, "internal: alltoall of {} values in all", stotal);
  check(MPI_Alltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, MPI_COMM_WORLD), "Alltoall");
  for (int r = 0; r < g_size; ++r) {
    rdispl[size_t(r)] = int(rtotal);
    rtotal += rcount[size_t(r)];
  }
  SLIM_CHECK(rtotal < INT_MAX, "internal: alltoall receiving {} values", rtotal);
  std::vector<double> send(static_cast<size_t>(stotal)), recv(static_cast<size_t>(rtotal));
  for (int r = 0; r < g_size; ++r) std::copy(to[size_t(r)].begin(), to[size_t(r)].end(), send.begin() + sdispl[size_t(r)]);
  check(MPI_Alltoallv(send.data(), scount.data(), sdispl.data(), MPI_DOUBLE, recv.data(), rcount.data(),
                      rdispl.data(), MPI_DOUBLE, MPI_COMM_WORLD),
        "Alltoallv");
  std::vector<std::vector<double>> from(ranks);
  for (int r = 0; r < g_size; ++r) {
    from[size_t(r)].assign(recv.begin() + rdispl[size_t(r)], recv.begin() + rdispl[size_t(r)] + rcount[size_t(r)]);
    if (r != g_rank) {
      g_traffic.sent += uint64_t(scount[size_t(r)]) * 8;
      g_traffic.received += uint64_t(rcount[size_t(r)]) * 8;
    }
  }
  return from;
}

void reduce_sum(std::span<double> data, int root, Wire wire) {
  if (g_size == 1) return;
  SLIM_CHECK(root >= 0 && root < g_size, "internal: reduce to rank {} of {}", root, g_size);
  g_traffic.calls++;
  std::vector<int> counts, displs;
  const std::vector<double> sum = reduce_scatter_slices(data, counts, displs, wire);
  check(MPI_Gatherv(sum.data(), int(sum.size()), MPI_DOUBLE, data.data(), counts.data(), displs.data(), MPI_DOUBLE,
                    root, MPI_COMM_WORLD),
        "Gatherv");
  if (g_rank == root)
    g_traffic.received += uint64_t(data.size() - sum.size()) * 8;
  else
    g_traffic.sent += uint64_t(sum.size()) * 8;
}

std::vector<std::byte> allgather(std::span<const std::byte> mine) {
  if (g_size == 1) return {mine.begin(), mine.end()};
  g_traffic.calls++;
  const std::vector<uint64_t> sizes = gather_sizes(mine.size());
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  std::vector<std::byte> all(total);
  if (total < uint64_t(INT_MAX)) {
    std::vector<int> counts(static_cast<size_t>(g_size)), displs(static_cast<size_t>(g_size));
    int off = 0;
    for (int r = 0; r < g_size; ++r) {
      counts[size_t(r)] = int(sizes[size_t(r)]);
      displs[size_t(r)] = off;
      off += counts[size_t(r)];
    }
    check(MPI_Allgatherv(mine.data(), int(mine.size()), MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE,
                         MPI_COMM_WORLD),
          "Allgatherv");
  } else {  // rank by rank, each broadcast in pieces
    uint64_t off = 0;
    for (int r = 0; r < g_size; ++r) {
      if (r == g_rank) std::memcpy(all.data() + off, mine.data(), mine.size());
      for (uint64_t o = 0; o < sizes[size_t(r)]; o += kPiece)
        check(MPI_Bcast(all.data() + off + o, int(std::min<uint64_t>(kPiece, sizes[size_t(r)] - o)), MPI_BYTE, r,
                        MPI_COMM_WORLD),
              "Bcast");
      off += sizes[size_t(r)];
    }
  }
  g_traffic.sent += mine.size();
  g_traffic.received += total - mine.size();
  return all;
}

void broadcast(std::span<std::byte> data, int root) {
  if (g_size == 1) return;
  g_traffic.calls++;
  for (size_t o = 0; o < data.size(); o += kPiece)
    check(MPI_Bcast(data.data() + o, int(std::min(kPiece, data.size() - o)), MPI_BYTE, root, MPI_COMM_WORLD), "Bcast");
  (g_rank == root ? g_traffic.sent : g_traffic.received) += data.size();
}

struct PendingBroadcast::Requests {
  std::vector<MPI_Request> r;
};
PendingBroadcast::PendingBroadcast() = default;
PendingBroadcast::PendingBroadcast(PendingBroadcast&&) noexcept = default;
PendingBroadcast& PendingBroadcast::operator=(PendingBroadcast&& o) noexcept {
  if (this != &o) {
    try {
      finish();
    } catch (...) {
    }
    requests_ = std::move(o.requests_);
  }
  return *this;
}
PendingBroadcast::~PendingBroadcast() {
  try {
    finish();
  } catch (...) {  // an MPI error while unwinding: the run is failing already
  }
}
void PendingBroadcast::finish() {
  if (!requests_) return;
  std::vector<MPI_Request> r = std::move(requests_->r);
  requests_.reset();
  check(MPI_Waitall(int(r.size()), r.data(), MPI_STATUSES_IGNORE), "Waitall (broadcast)");
}

PendingBroadcast start_broadcast(std::span<std::byte> data, int root) {
  PendingBroadcast p;
  if (g_size == 1) return p;
  g_traffic.calls++;
  p.requests_ = std::make_unique<PendingBroadcast::Requests>();
  for (size_t o = 0; o < data.size(); o += kPiece) {
    MPI_Request q;
    check(MPI_Ibcast(data.data() + o, int(std::min(kPiece, data.size() - o)), MPI_BYTE, root, MPI_COMM_WORLD, &q),
          "Ibcast");
    p.requests_->r.push_back(q);
  }
  (g_rank == root ? g_traffic.sent : g_traffic.received) += data.size();
  return p;
}

void broadcast(std::string& s, int root) {
  if (g_size == 1) return;
  uint64_t n = s.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, MPI_COMM_WORLD), "Bcast");
  s.resize(size_t(n));
  broadcast(std::as_writable_bytes(std::span(s.data(), s.size())), root);
}

void gather_to_root(std::span<const std::byte> mine, std::span<std::byte> all) {
  if (g_size == 1) {
    if (!mine.empty() && all.data() != mine.data()) std::memmove(all.data(), mine.data(), mine.size());
    return;
  }
  g_traffic.calls++;
  const std::vector<uint64_t> sizes = gather_sizes(mine.size());
  if (g_rank != 0) {
    send_pieces(mine.data(), mine.size(), 0);
    return;
  }
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  SLIM_CHECK(all.size() >= total, "internal: gather of {} bytes into {}", total, all.size());
  uint64_t off = sizes[0];
  if (!mine.empty() && all.data() != mine.data()) std::memmove(all.data(), mine.data(), mine.size());
  for (int r = 1; r < g_size; ++r) {
    recv_pieces(all.data() + off, sizes[size_t(r)], r);
    off += sizes[size_t(r)];
  }
}

void scatter_from_root(std::span<const std::byte> all, std::span<std::byte> mine) {
  if (g_size == 1) {
    if (!mine.empty() && all.data() != mine.data()) std::memmove(mine.data(), all.data(), mine.size());
    return;
  }
  g_traffic.calls++;
  const std::vector<uint64_t> sizes = gather_sizes(mine.size());
  if (g_rank != 0) {
    recv_pieces(mine.data(), mine.size(), 0);
    return;
  }
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  SLIM_CHECK(all.size() >= total, "internal: scatter of {} bytes from {}", total, all.size());
  if (!mine.empty() && all.data() != mine.data()) std::memmove(mine.data(), all.data(), mine.size());
  uint64_t off = sizes[0];
  for (int r = 1; r < g_size; ++r) {
    send_pieces(all.data() + off, sizes[size_t(r)], r);
    off += sizes[size_t(r)];
  }
}

void barrier() {
  if (g_size > 1) check(MPI_Barrier(MPI_COMM_WORLD), "Barrier");
}

Traffic traffic() { return g_traffic; }
void reset_traffic() { g_traffic = {}; }

}  // namespace slim::dist
