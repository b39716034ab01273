// Lossless packing of fp64 summands for the reductions over ranks (dist/comm.h).
//
// A rank's share of a Hessian is a sum of a few fp32 SYRK batches (one per
// calibration window) in fp64: with k windows its values carry about 33 + log2(k)
// significant high bits of the 64 (sign, exponent, mantissa), the low bits are
// zeros. The packing drops them: per chunk of 16 values, one byte s (0..64: the
// most significant bits any value of the chunk needs), then the chunk's values'
// top s bits, 16 x s bits = 2s bytes. Unpacking restores every bit (NaN payloads,
// -0.0, subnormals included), so the sums built from unpacked values are the
// same bits as from the originals: the reductions stay bit-identical, only
// the bytes on the wire shrink (~4.6 bytes per value at 4 windows a rank).
// Incompressible values cost 8 bytes + 1/16 of a byte.
//
// Chunks are independent: both directions run over OpenMP threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace slim::dist {

inline constexpr int64_t kWirePackChunk = 16;

// The first of packing's two passes: every chunk's significant bits and
// where each thread's frame of chunks will start. bytes() is the packed size.
struct PackPlan {
  std::vector<uint8_t> sig;        // per chunk
  std::vector<int64_t> frame_at;   // frames + 1 offsets
  int64_t bytes() const { return frame_at.back(); }
};
PackPlan plan_pack(std::span<const double> values);
// The second pass: writes plan.bytes() packed bytes of `values` (those the
// plan was made from) at `out`, so that a caller can pack straight into its
// send buffer.
void pack_into(std::span<const double> values, const PackPlan& plan, std::byte* out);
// Both passes into a new buffer.
std::vector<std::byte> pack_doubles(std::span<const double> values);

// Unpacks exactly out.size() values from `packed`, which must hold exactly
// them, followed by at most 7 zero bytes (padding to whole 8-byte words);
// throws slim::Error naming `what` on a malformed, short or long stream.
void unpack_doubles(std::span<const std::byte> packed, std::span<double> out, const char* what);
// The same, adding each value into `sum` (sum[i] += value, one addition per
// element: the bits of unpacking into a buffer and adding it afterwards)
// instead of storing it; the same checks, made before `sum` is touched.
void unpack_add_doubles(std::span<const std::byte> packed, std::span<double> sum, const char* what);

}  // namespace slim::dist
