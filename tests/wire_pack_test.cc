// The lossless packing of fp64 summands for the reductions over ranks
// (dist/wire_pack.h): every bit back, the size it promises on sums of fp32
// batches, and clear errors on a malformed stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "dist/wire_pack.h"
#include "util/error.h"

namespace slim {
namespace {

std::vector<uint64_t> bits(std::span<const double> v) {
  std::vector<uint64_t> b(v.size());
  if (!v.empty()) std::memcpy(b.data(), v.data(), v.size() * sizeof(double));  // (empty: null pointers)
  return b;
}

void expect_round_trip(const std::vector<double>& v) {
  const std::vector<std::byte> p = dist::pack_doubles(v);
  std::vector<double> back(v.size(), 1.0);
  dist::unpack_doubles(p, back, "test");
  EXPECT_EQ(bits(v), bits(back));
}

TEST(WirePack, EveryBitBack) {
  std::mt19937_64 g(7);
  // Every length around the chunk and frame edges, and values without trailing zeros.
  for (size_t n : {0, 1, 15, 16, 17, 31, 33, 16383, 16384, 16385, 40000}) {
    std::vector<double> v(n);
    for (auto& x : v) {
      const uint64_t u = g();
      std::memcpy(&x, &u, sizeof u);  // any bits: NaNs with payloads, subnormals, infinities
    }
    expect_round_trip(v);
  }
  const double special[] = {0.0, -0.0, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                            std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::denorm_min(),
                            -std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max(), 1.0, -2.5};
  std::vector<double> v(special, special + std::size(special));
  expect_round_trip(v);
  expect_round_trip(std::vector<double>(100, 0.0));  // all-zero chunks: one byte each
  EXPECT_EQ(dist::pack_doubles(std::vector<double>(32, 0.0)).size(), 2u);
}

// A rank's Hessian share is a sum of a few fp32 batches in fp64: the packing
// keeps every bit in about 33 + log2(k) bits a value.
TEST(WirePack, SumsOfFp32BatchesShrink) {
  std::mt19937 g(3);
  std::normal_distribution<float> nd;
  const size_t n = 1 << 14;
  std::vector<double> sum(n, 0.0);
  size_t last = 0;
  int added = 0;
  for (int k = 1; k <= 16; k *= 2) {
    for (; added < k; ++added)
      for (auto& s : sum) s += double(nd(g) * 100.f);
    const std::vector<std::byte> p = dist::pack_doubles(sum);
    std::vector<double> back(n);
    dist::unpack_doubles(p, back, "test");
    EXPECT_EQ(bits(sum), bits(back));
    const double per_value = double(p.size()) / double(n);
    // One batch: an fp32 value's 1 + 11 + 23 bits and the header; then a few bits per doubling
    // (zero-mean summands that cancel are the hard case; a Hessian's diagonal is positive).
    EXPECT_LE(per_value, k == 1 ? 35.0 / 8 + 1.0 / 16 : 6.0) << k << " batches";
    EXPECT_GE(p.size(), last) << k;
    last = p.size();
    std::printf("%d batches: %.3f bytes a value\n", k, per_value);
  }
}

TEST(WirePack, MalformedStreamsAreRefused) {
  std::vector<double> v(40);
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i) * 1.25 + 0.5;
  std::vector<std::byte> p = dist::pack_doubles(v);
  std::vector<double> out(v.size());
  auto error_of = [&](std::span<const std::byte> bytes) -> std::string {
    try {
      dist::unpack_doubles(bytes, out, "the stream");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(p), "");
  EXPECT_NE(error_of(std::span(p).first(p.size() - 1)).find("the stream: packed values end inside chunk"),
            std::string::npos);
  EXPECT_NE(error_of(std::span(p).first(0)).find("end at chunk 0"), std::string::npos);
  std::vector<std::byte> bad = p;
  bad[0] = std::byte(65);
  EXPECT_NE(error_of(bad).find("claims 65 significant bits"), std::string::npos);
  std::vector<std::byte> padded = p;
  padded.resize(p.size() + 7);  // zero padding to a word: accepted
  EXPECT_EQ(error_of(padded), "");
  padded.push_back(std::byte{0});  // 8 bytes more: not padding
  EXPECT_NE(error_of(padded).find("8 bytes after the 40 packed values"), std::string::npos);
  padded.resize(p.size() + 1, std::byte{1});  // a non-zero byte
  padded[p.size()] = std::byte{1};
  EXPECT_NE(error_of(padded).find("1 bytes after"), std::string::npos);
}

// Whole chunks take code specialised per bit count (0..64), partial ones the
// generic reference: every count round-trips, at its promised size, both ways.
TEST(WirePack, EverySignificantBitCount) {
  std::mt19937_64 g(9);
  for (int sig = 0; sig <= 64; ++sig) {
    std::vector<double> v(37);  // two whole chunks and a partial one
    for (auto& x : v) {
      uint64_t u = 0;
      if (sig > 0) {
        u = g() & (sig == 64 ? ~uint64_t(0) : ~((uint64_t(1) << (64 - sig)) - 1));
        u |= uint64_t(1) << (64 - sig);  // exactly `sig` significant bits
      }
      std::memcpy(&x, &u, sizeof u);
    }
    const std::vector<std::byte> p = dist::pack_doubles(v);
    EXPECT_EQ(int64_t(p.size()), 2 * (1 + 2 * sig) + 1 + (5 * sig + 7) / 8) << sig;
    std::vector<double> back(v.size(), 3.0), sum(v.size(), 0.0);
    dist::unpack_doubles(p, back, "test");
    EXPECT_EQ(bits(v), bits(back)) << sig;
    dist::unpack_add_doubles(p, sum, "test");  // 0 + x is x, but -0.0 and NaNs keep their bits only by value
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isnan(v[i])) {
        EXPECT_EQ(sum[i], v[i] + 0.0) << sig << " " << i;
      }
    }
  }
}

// What the reduction over ranks calls: a plan, the bytes written into the
// caller's buffer (exactly plan.bytes(), nothing past them), and unpacking
// that adds, with the bits of unpacking first and adding after.
TEST(WirePack, PackIntoAndUnpackAddMatchTheTwoSteps) {
  std::mt19937_64 g(5);
  std::normal_distribution<double> nd;
  for (size_t n : {1, 17, 16385, 40000}) {
    std::vector<double> v(n), base(n);
    for (size_t i = 0; i < n; ++i) {
      v[i] = double(float(nd(g))) + double(float(nd(g)));  // two fp32 batches
      base[i] = nd(g) * 1e3;
    }
    const dist::PackPlan plan = dist::plan_pack(v);
    const std::vector<std::byte> whole = dist::pack_doubles(v);
    ASSERT_EQ(plan.bytes(), int64_t(whole.size())) << n;
    std::vector<std::byte> buf(whole.size() + 8, std::byte{0xAB});
    dist::pack_into(v, plan, buf.data());
    EXPECT_TRUE(std::equal(whole.begin(), whole.end(), buf.begin())) << n;
    for (size_t i = whole.size(); i < buf.size(); ++i) EXPECT_EQ(buf[i], std::byte{0xAB}) << n;

    std::vector<double> part(n), two_steps = base, fused = base;
    dist::unpack_doubles(whole, part, "test");
    for (size_t i = 0; i < n; ++i) two_steps[i] += part[i];
    dist::unpack_add_doubles(whole, fused, "test");
    EXPECT_EQ(bits(two_steps), bits(fused)) << n;
  }
  // A malformed stream is refused before the sum is touched.
  std::vector<double> v(40, 1.5), sum(40, 2.0);
  std::vector<std::byte> p = dist::pack_doubles(v);
  p.pop_back();
  EXPECT_THROW(dist::unpack_add_doubles(p, sum, "the stream"), Error);
  EXPECT_EQ(sum, std::vector<double>(40, 2.0));
}

}  // namespace
}  // namespace slim
