#include "dist/wire_pack.h"

#include <algorithm>
#include <cstring>

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

// The significant high bits of a chunk: 64 - the fewest trailing zero bits of its values.
int significant_bits(const double* v, int64_t count) {
  int fewest = 64;
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t u = bits_of(v[i]);
    if (u != 0) fewest = std::min(fewest, __builtin_ctzll(u));
  }
  return 64 - fewest;
}

int64_t chunk_bytes(int64_t count, int s) { return 1 + (count * s + 7) / 8; }

// Writes one chunk (header byte s, then each value's top s bits, low bits
// first, 8 bytes at a time); returns its end.
std::byte* write_chunk(const double* v, int64_t count, int s, std::byte* p) {
  *p++ = std::byte(s);
  if (s == 0) return p;
  unsigned __int128 acc = 0;
  int held = 0;
  for (int64_t i = 0; i < count; ++i) {
    acc |= static_cast<unsigned __int128>(bits_of(v[i]) >> (64 - s)) << held;
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

// Reads one chunk's `count` values of s bits from its `bytes` bytes (after the header).
void read_chunk(const std::byte* p, int64_t bytes, int64_t count, int s, double* out) {
  if (s == 0) {
    std::fill(out, out + count, 0.0);
    return;
  }
  const std::byte* end = p + bytes;
  const uint64_t mask = s == 64 ? ~uint64_t(0) : (uint64_t(1) << s) - 1;
  unsigned __int128 acc = 0;
  int held = 0;
  for (int64_t i = 0; i < count; ++i) {
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
    const uint64_t u = (uint64_t(acc) & mask) << (64 - s);
    acc >>= s;
    held -= s;
    std::memcpy(&out[i], &u, sizeof u);
  }
}

}  // namespace

std::vector<std::byte> pack_doubles(std::span<const double> values) {
  const int64_t n = int64_t(values.size());
  const int64_t chunks = (n + kWirePackChunk - 1) / kWirePackChunk, frames = (chunks + kFrame - 1) / kFrame;
  std::vector<uint8_t> sig(static_cast<size_t>(chunks));
  std::vector<int64_t> frame_at(static_cast<size_t>(frames + 1), 0);
  const double* v = values.data();
  auto count_of = [n](int64_t c) { return std::min(kWirePackChunk, n - c * kWirePackChunk); };
#pragma omp parallel for schedule(static) if (frames > 1)
  for (int64_t f = 0; f < frames; ++f) {
    int64_t bytes = 0;
    for (int64_t c = f * kFrame; c < std::min(chunks, (f + 1) * kFrame); ++c) {
      const int s = significant_bits(v + c * kWirePackChunk, count_of(c));
      sig[size_t(c)] = uint8_t(s);
      bytes += chunk_bytes(count_of(c), s);
    }
    frame_at[size_t(f + 1)] = bytes;
  }
  for (int64_t f = 0; f < frames; ++f) frame_at[size_t(f + 1)] += frame_at[size_t(f)];
  std::vector<std::byte> out(static_cast<size_t>(frame_at[size_t(frames)]));
#pragma omp parallel for schedule(static) if (frames > 1)
  for (int64_t f = 0; f < frames; ++f) {
    std::byte* p = out.data() + frame_at[size_t(f)];
    for (int64_t c = f * kFrame; c < std::min(chunks, (f + 1) * kFrame); ++c)
      p = write_chunk(v + c * kWirePackChunk, count_of(c), sig[size_t(c)], p);
  }
  return out;
}

void unpack_doubles(std::span<const std::byte> packed, std::span<double> out, const char* what) {
  const int64_t n = int64_t(out.size());
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
      read_chunk(p + 1, chunk_bytes(count_of(c), s) - 1, count_of(c), s, out.data() + c * kWirePackChunk);
      p += chunk_bytes(count_of(c), s);
    }
  }
}

}  // namespace slim::dist
