#include "dist/wire_pack.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "util/error.h"

namespace slim::dist {

namespace {

// Chunks per frame: a frame is one thread's unit of work (16384 values).
constexpr int64_t kFrame = 1024;

uint64_t bits_of(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

// The significant high bits of a chunk: 64 - the fewest trailing zero bits of
// its values, which are the trailing zeros of their OR (a vector reduction).
int significant_bits(const double* v, int64_t count) {
  uint64_t any = 0;
  for (int64_t i = 0; i < count; ++i) any |= bits_of(v[i]);
  return any == 0 ? 0 : 64 - __builtin_ctzll(any);
}

int64_t chunk_bytes(int64_t count, int s) { return 1 + (count * s + 7) / 8; }

// The payload of one chunk: each value's top s bits, low bits first, 8 bytes
// at a time; returns its end. `Bits` is int (any chunk) or
// std::integral_constant<int, S> (whole chunks, from the tables below: with s
// and count constant the loop unrolls to straight-line shifts).
template <class Bits>
std::byte* write_payload(const double* v, int64_t count, Bits bits, std::byte* p) {
  const int s = bits;
  if (s == 0) return p;
  unsigned __int128 acc = 0;
  int held = 0;
  for (int64_t i = 0; i < count; ++i) {
    acc |= static_cast<unsigned __int128>(bits_of(v[i]) >> ((64 - s) & 63)) << held;  // s > 0 here
    held += s;
    if (held >= 64) {
      const uint64_t lo = uint64_t(acc);
      std::memcpy(p, &lo, 8);
      p += 8;
      acc >>= 64;
      held -= 64;
    }
  }
  for (; held > 0; held -= 8, acc >>= 8) *p++ = std::byte(uint8_t(acc));
  return p;
}

// Reads `count` values of s bits from a chunk's `bytes` payload bytes into
// out (kAdd: out[i] += value, one addition each; else out[i] = value).
template <bool kAdd, class Bits>
void read_payload(const std::byte* p, int64_t bytes, int64_t count, Bits bits, double* out) {
  const int s = bits;
  const std::byte* end = p + bytes;
  const uint64_t mask = s == 64 ? ~uint64_t(0) : (uint64_t(1) << s) - 1;
  unsigned __int128 acc = 0;
  int held = 0;
  for (int64_t i = 0; i < count; ++i) {
    uint64_t u = 0;
    if (s > 0) {
      if (held < s) {  // held < 64: 8 more bytes fit in the accumulator
        if (end - p >= 8) {
          uint64_t w;
          std::memcpy(&w, p, 8);
          acc |= static_cast<unsigned __int128>(w) << held;
          p += 8;
          held += 64;
        } else {
          while (held < s) {
            acc |= static_cast<unsigned __int128>(uint8_t(*p++)) << held;
            held += 8;
          }
        }
      }
      u = (uint64_t(acc) & mask) << (64 - s);
      acc >>= s;
      held -= s;
    }
    double d;
    std::memcpy(&d, &u, sizeof u);
    if constexpr (kAdd) out[i] += d;
    else out[i] = d;
  }
}

// Whole chunks (16 values, 16 x S bits = 2S bytes) by code specialised for each S.
template <int S>
void write_full(const double* v, std::byte* p) {
  write_payload(v, kWirePackChunk, std::integral_constant<int, S>{}, p);
}
template <int S, bool kAdd>
void read_full(const std::byte* p, double* out) {
  read_payload<kAdd>(p, 2 * S, kWirePackChunk, std::integral_constant<int, S>{}, out);
}

using WriteFull = void (*)(const double*, std::byte*);
using ReadFull = void (*)(const std::byte*, double*);
template <size_t... S>
constexpr std::array<WriteFull, 65> write_table(std::index_sequence<S...>) { return {&write_full<int(S)>...}; }
template <bool kAdd, size_t... S>
constexpr std::array<ReadFull, 65> read_table(std::index_sequence<S...>) { return {&read_full<int(S), kAdd>...}; }
constexpr auto kWriteFull = write_table(std::make_index_sequence<65>{});
constexpr auto kReadFull = read_table<false>(std::make_index_sequence<65>{});
constexpr auto kReadAddFull = read_table<true>(std::make_index_sequence<65>{});

// One chunk of `count` values: the table's straight-line code when whole.
std::byte* pack_chunk(const double* v, int64_t count, int s, std::byte* p) {
  *p++ = std::byte(s);
  if (count != kWirePackChunk) return write_payload(v, count, s, p);
  kWriteFull[size_t(s)](v, p);
  return p + 2 * s;
}

}  // namespace

PackPlan plan_pack(std::span<const double> values) {
  const int64_t n = int64_t(values.size());
  const int64_t chunks = (n + kWirePackChunk - 1) / kWirePackChunk, frames = (chunks + kFrame - 1) / kFrame;
  PackPlan plan;
  plan.sig.resize(static_cast<size_t>(chunks));
  plan.frame_at.assign(static_cast<size_t>(frames + 1), 0);
  const double* v = values.data();
  auto count_of = [n](int64_t c) { return std::min(kWirePackChunk, n - c * kWirePackChunk); };
#pragma omp parallel for schedule(static) if (frames > 1)
  for (int64_t f = 0; f < frames; ++f) {
    int64_t bytes = 0;
    for (int64_t c = f * kFrame; c < std::min(chunks, (f + 1) * kFrame); ++c) {
      const int s = significant_bits(v + c * kWirePackChunk, count_of(c));
      plan.sig[size_t(c)] = uint8_t(s);
      bytes += chunk_bytes(count_of(c), s);
    }
    plan.frame_at[size_t(f + 1)] = bytes;
  }
  for (int64_t f = 0; f < frames; ++f) plan.frame_at[size_t(f + 1)] += plan.frame_at[size_t(f)];
  return plan;
}

void pack_into(std::span<const double> values, const PackPlan& plan, std::byte* out) {
  const int64_t n = int64_t(values.size());
  const int64_t chunks = int64_t(plan.sig.size()), frames = int64_t(plan.frame_at.size()) - 1;
  SLIM_CHECK(chunks == (n + kWirePackChunk - 1) / kWirePackChunk, "internal: pack plan of {} chunks for {} values",
             chunks, n);
  const double* v = values.data();
  auto count_of = [n](int64_t c) { return std::min(kWirePackChunk, n - c * kWirePackChunk); };
#pragma omp parallel for schedule(static) if (frames > 1)
  for (int64_t f = 0; f < frames; ++f) {
    std::byte* p = out + plan.frame_at[size_t(f)];
    for (int64_t c = f * kFrame; c < std::min(chunks, (f + 1) * kFrame); ++c)
      p = pack_chunk(v + c * kWirePackChunk, count_of(c), plan.sig[size_t(c)], p);
  }
}

std::vector<std::byte> pack_doubles(std::span<const double> values) {
  const PackPlan plan = plan_pack(values);
  std::vector<std::byte> out(static_cast<size_t>(plan.bytes()));
  pack_into(values, plan, out.data());
  return out;
}

namespace {

// Both unpackers: checks the stream, then per chunk `emit(first value's index,
// count, s, its bytes after the header)` over OpenMP frames.
template <class Emit>
void unpack_chunks(std::span<const std::byte> packed, int64_t n, const char* what, Emit emit) {
  const int64_t chunks = (n + kWirePackChunk - 1) / kWirePackChunk, frames = (chunks + kFrame - 1) / kFrame;
  auto count_of = [n](int64_t c) { return std::min(kWirePackChunk, n - c * kWirePackChunk); };
  // Where each frame starts: a scan of the headers, checking every chunk fits.
  std::vector<int64_t> frame_at(static_cast<size_t>(frames + 1), 0);
  const int64_t size = int64_t(packed.size());
  int64_t at = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    if (c % kFrame == 0) frame_at[size_t(c / kFrame)] = at;
    SLIM_CHECK(at < size, "{}: packed values end at chunk {} of {}", what, c, chunks);
    const int s = int(uint8_t(packed[size_t(at)]));
    SLIM_CHECK(s <= 64, "{}: chunk {} claims {} significant bits (at most 64)", what, c, s);
    at += chunk_bytes(count_of(c), s);
    SLIM_CHECK(at <= size, "{}: packed values end inside chunk {} of {}", what, c, chunks);
  }
  // Up to 7 zero bytes may follow (a sender's padding to whole 8-byte words).
  bool padding = size - at < 8;
  for (int64_t i = at; padding && i < size; ++i) padding = packed[size_t(i)] == std::byte{0};
  SLIM_CHECK(padding, "{}: {} bytes after the {} packed values", what, size - at, n);
  const std::byte* base = packed.data();
#pragma omp parallel for schedule(static) if (frames > 1)
  for (int64_t f = 0; f < frames; ++f) {
    const std::byte* p = base + frame_at[size_t(f)];
    for (int64_t c = f * kFrame; c < std::min(chunks, (f + 1) * kFrame); ++c) {
      const int s = int(uint8_t(*p));
      emit(c * kWirePackChunk, count_of(c), s, p + 1, chunk_bytes(count_of(c), s) - 1);
      p += chunk_bytes(count_of(c), s);
    }
  }
}

}  // namespace

void unpack_doubles(std::span<const std::byte> packed, std::span<double> out, const char* what) {
  unpack_chunks(packed, int64_t(out.size()), what,
                [&](int64_t i, int64_t count, int s, const std::byte* p, int64_t bytes) {
                  if (count == kWirePackChunk) kReadFull[size_t(s)](p, out.data() + i);
                  else read_payload<false>(p, bytes, count, s, out.data() + i);
                });
}

void unpack_add_doubles(std::span<const std::byte> packed, std::span<double> sum, const char* what) {
  unpack_chunks(packed, int64_t(sum.size()), what,
                [&](int64_t i, int64_t count, int s, const std::byte* p, int64_t bytes) {
                  if (count == kWirePackChunk) kReadAddFull[size_t(s)](p, sum.data() + i);
                  else read_payload<true>(p, bytes, count, s, sum.data() + i);
                });
}

}  // namespace slim::dist
