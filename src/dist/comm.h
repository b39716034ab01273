// The ranks of a multi-process run (issue 15): `mpirun -np N slim quantize ...`
// starts N processes; each maps the model, takes a contiguous share of the
// calibration windows and of every linear's rows, and the pieces are combined
// here. Without an MPI launcher (or in a build without Open MPI) there is one
// rank and every call is a local no-op, so single-process code paths stay
// exactly as they were. Which implementation is linked is chosen once, by the
// build (comm_mpi.cc or comm_local.cc).
//
// Every reduction has a fixed order (rank 0 + rank 1 + ... + rank N-1), so a
// result never depends on timing: for a fixed N it is bit-identical run to
// run, and across N it differs only by the reassociation of fp64 sums.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace slim::dist {

// Starts MPI when the process was started by an MPI launcher (mpirun, srun:
// they set OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK); otherwise one rank.
void init(int* argc, char*** argv);
void finalize();
// A rank that fails takes the others down (they would wait in a collective
// forever); with one rank this is std::exit.
[[noreturn]] void abort(int code);
bool built_with_mpi();
int rank();
int size();
inline bool is_root() { return rank() == 0; }
// "rank 1/4 on host-a" for messages; "" with one rank.
std::string describe();

// [begin, end) of `n` items owned by rank `r` of `ranks`: contiguous, sizes
// differ by at most one, earlier ranks take the larger shares.
struct Share {
  int64_t begin = 0, end = 0;
  int64_t count() const { return end - begin; }
};
Share share_of(int64_t n, int r, int ranks);
inline Share my_share(int64_t n) { return share_of(n, rank(), size()); }

// How the summands of the reductions below travel. kFp64: every bit, packed
// losslessly (dist/wire_pack.h: the low zero bits of a few fp32 batches summed
// in fp64 are dropped; ~4.6 of 8 bytes for a Hessian share of 4 windows). kFp32 rounds each rank's
// partial values to fp32 (to nearest) before they are sent, and adds them in
// fp64 in rank order as kFp64 does: half the bytes of the reduce-scatter
// (the first half of every reduction; the sums travel on in fp64), at the
// price of the bit-identity across N (for a fixed N the result is still the
// same run to run): each summand moves by at most 2^-24 of itself.
// kFp64Raw: kFp64 unpacked, the same bits, for links fast enough that packing
// costs more than the bytes it saves (bench/mpi_scaling_model tells where).
enum class Wire { kFp64, kFp32, kFp64Raw };

// Element-wise sum over ranks, in rank order, identical on every rank.
void allreduce_sum(std::span<double> data, Wire wire = Wire::kFp64);
// The same sums (the same order, so the same bits) on rank `root` only: a
// reduce-scatter and a gather to the root, about half the bytes of
// allreduce_sum on every other rank. Elsewhere `data` is left unspecified.
void reduce_sum(std::span<double> data, int root, Wire wire = Wire::kFp64);
// The first half of both: this rank's slice share_of(data.size(), rank) of
// the same sums, about 1/N of allreduce_sum's bytes received.
std::vector<double> reduce_scatter_sum(std::span<const double> data, Wire wire = Wire::kFp64);
// to[d] of rank r arrives as result[r] on rank d (to.size() == size()).
std::vector<std::vector<double>> alltoall(const std::vector<std::vector<double>>& to);
// Every rank's bytes concatenated in rank order, on every rank.
std::vector<std::byte> allgather(std::span<const std::byte> mine);
// `data` of rank `root` copied to every rank (sizes must match).
void broadcast(std::span<std::byte> data, int root = 0);
void broadcast(std::string& s, int root = 0);
// broadcast() started, not finished: the bytes move while this rank computes
// (and takes part in other collectives, which every rank must then call in
// the same order as the broadcasts); finish() waits for them. `data` must
// stay allocated and untouched until then. The destructor finishes a
// broadcast that was not.
class PendingBroadcast {
 public:
  PendingBroadcast();
  PendingBroadcast(PendingBroadcast&&) noexcept;
  PendingBroadcast& operator=(PendingBroadcast&&) noexcept;
  ~PendingBroadcast();
  void finish();
  struct Requests;  // the MPI requests (comm_mpi.cc)

 private:
  std::unique_ptr<Requests> requests_;
  friend PendingBroadcast start_broadcast(std::span<std::byte> data, int root);
};
PendingBroadcast start_broadcast(std::span<std::byte> data, int root = 0);
// Rank r's `mine` lands at all[offset_r ...] on the root (offsets in rank
// order); `all` is read only on the root. Any size (sent in pieces < 2 GiB).
void gather_to_root(std::span<const std::byte> mine, std::span<std::byte> all);
// The inverse: the root's all[offset_r ...] into rank r's `mine`.
void scatter_from_root(std::span<const std::byte> all, std::span<std::byte> mine);
void barrier();

// What this rank has received from (and sent to) other ranks since the last
// reset, counting payload bytes: a lower bound on the wire traffic that the
// ring and tree algorithms of Open MPI reach for large messages.
struct Traffic {
  uint64_t sent = 0, received = 0;
  uint64_t calls = 0;
  // Of `received`: the fp64 summands that came packed (dist/wire_pack.h),
  // their bytes as fp64 and as packed; and the seconds spent packing and unpacking.
  uint64_t packed_raw = 0, packed = 0;
  double pack_seconds = 0;
};
Traffic traffic();
void reset_traffic();

template <class T>
std::span<const std::byte> bytes_of(std::span<const T> s) {
  return std::as_bytes(s);
}

}  // namespace slim::dist
