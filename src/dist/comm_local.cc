// One rank: the build without Open MPI. Every collective is the identity.
#include <cstdlib>
#include <cstring>

#include "dist/comm.h"
#include "util/error.h"

namespace slim::dist {

void init(int*, char***) {}
void finalize() {}
void abort(int code) { std::exit(code); }
bool built_with_mpi() { return false; }
int rank() { return 0; }
int size() { return 1; }
std::string describe() { return ""; }
void allreduce_sum(std::span<double>, Wire) {}
void reduce_sum(std::span<double>, int, Wire) {}
std::vector<double> reduce_scatter_sum(std::span<const double> data, Wire) { return {data.begin(), data.end()}; }
std::vector<std::vector<double>> alltoall(const std::vector<std::vector<double>>& to) {
  SLIM_CHECK(to.size() == 1, "internal: alltoall to {} ranks of 1", to.size());
  return to;
}
std::vector<std::byte> allgather(std::span<const std::byte> mine) { return {mine.begin(), mine.end()}; }
void broadcast(std::span<std::byte>, int) {}
void broadcast(std::string&, int) {}
struct PendingBroadcast::Requests {};
PendingBroadcast::PendingBroadcast() = default;
PendingBroadcast::PendingBroadcast(PendingBroadcast&&) noexcept = default;
PendingBroadcast& PendingBroadcast::operator=(PendingBroadcast&&) noexcept = default;
PendingBroadcast::~PendingBroadcast() = default;
void PendingBroadcast::finish() {}
PendingBroadcast start_broadcast(std::span<std::byte>, int) { return {}; }
void gather_to_root(std::span<const std::byte> mine, std::span<std::byte> all) {
  SLIM_CHECK(all.size() >= mine.size(), "internal: gather into {} bytes of {}", all.size(), mine.size());
  if (!mine.empty() && all.data() != mine.data()) std::memmove(all.data(), mine.data(), mine.size());
}
void scatter_from_root(std::span<const std::byte> all, std::span<std::byte> mine) {
  SLIM_CHECK(all.size() >= mine.size(), "internal: scatter of {} bytes into {}", all.size(), mine.size());
  if (!mine.empty() && all.data() != mine.data()) std::memmove(mine.data(), all.data(), mine.size());
}
void barrier() {}
Traffic traffic() { return {}; }
void reset_traffic() {}

}  // namespace slim::dist
