// The lossless packing of fp64 summands for the reductions over ranks
// (dist/wire_pack.h): every bit back, the size it promises on sums of fp32
// batches, and clear errors on a malformed stream.
#include <gtest/gtest.h>

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
  std::memcpy(b.data(), v.data(), v.size() * sizeof(double));
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

}  // namespace
}  // namespace slim
