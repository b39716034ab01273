// The pieces multi-rank quantization (issue 15) rests on, checked in one
// process: the shares of windows and rows, and GPTQ's row independence (a
// linear quantized in row slices, as the ranks do, gives the bits of the
// whole). The ranks themselves run in tests/cli/mpi_test.sh.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "dist/comm.h"
#include "quant/gptq.h"
#include "quant/gptq_ranks.h"
#include "quant/row_codes.h"
#include "quant/sqc.h"
#include "test_util.h"

namespace slim {
namespace {

TEST(DistShare, ContiguousBalancedAndComplete) {
  for (int64_t n = 0; n <= 23; ++n)
    for (int ranks = 1; ranks <= 7; ++ranks) {
      int64_t next = 0, lo = n, hi = 0;
      for (int r = 0; r < ranks; ++r) {
        const dist::Share s = dist::share_of(n, r, ranks);
        EXPECT_EQ(s.begin, next) << n << " items, rank " << r << "/" << ranks;
        EXPECT_GE(s.count(), 0);
        lo = std::min(lo, s.count());
        hi = std::max(hi, s.count());
        next = s.end;
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(hi - lo, 1) << n << " items over " << ranks << " ranks";
    }
}

struct Layer {
  int64_t rows, cols;
  std::vector<float> w;   // (rows, cols)
  std::vector<double> h;  // (cols, cols)
};

Layer make_layer(int64_t rows, int64_t cols, uint32_t seed) {
  Layer L{rows, cols, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  L.w.resize(size_t(rows * cols));
  for (auto& v : L.w) v = nd(rng);
  const int64_t tokens = 2 * cols;
  std::vector<float> x(size_t(tokens * cols));  // (tokens, cols), a few loud channels
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < cols; ++c) x[size_t(t * cols + c)] = nd(rng) * (c % 17 == 3 ? 8.f : 1.f) + 0.3f * x[size_t(t * cols)];
  L.h.assign(size_t(cols * cols), 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j < cols; ++j) L.h[size_t(i * cols + j)] += 2.0 / double(tokens) * x[size_t(t * cols + i)] * x[size_t(t * cols + j)];
  return L;
}

// Rows quantized in `ranks` slices (gptq_ranks.cc's split) equal the whole, bit for bit.
void expect_row_slices_equal_whole(const Layer& L, const GptqOptions& o) {
  const GptqFactor f = gptq_factor(L.h, L.cols, o);
  const GptqResult whole = gptq_quantize(L.w, L.rows, L.cols, f, o);
  const size_t groups = whole.group_bits.size();
  for (int ranks : {2, 3, 5}) {
    std::vector<float> q;
    std::vector<QuantParams> params;
    for (int r = 0; r < ranks; ++r) {
      const dist::Share s = gptq_row_share(L.rows, r, ranks);
      const GptqResult part = gptq_quantize(std::span<const float>(L.w).subspan(size_t(s.begin * L.cols), size_t(s.count() * L.cols)),
                                            s.count(), L.cols, f, o);
      q.insert(q.end(), part.q.begin(), part.q.end());
      params.insert(params.end(), part.params.begin(), part.params.end());
      EXPECT_EQ(part.group_bits, whole.group_bits);
    }
    ASSERT_EQ(q.size(), whole.q.size());
    ASSERT_EQ(params.size(), size_t(L.rows) * groups);
    EXPECT_EQ(std::memcmp(q.data(), whole.q.data(), q.size() * sizeof(float)), 0) << ranks << " slices";
    EXPECT_EQ(std::memcmp(params.data(), whole.params.data(), params.size() * sizeof(QuantParams)), 0)
        << ranks << " slices";
  }
}

// 300 x 256: past the thresholds where GPTQ's loops go to OpenMP threads and
// its lazy updates to sgemm, so the slices take other thread and kernel splits.
TEST(DistRows, GptqRowSlicesAreBitIdentical) {
  const Layer L = make_layer(300, 256, 3);
  GptqOptions o;
  o.bits = 3;
  o.group_size = 32;
  expect_row_slices_equal_whole(L, o);
}

TEST(DistRows, SliMRowSlicesAreBitIdentical) {  // mixed group bits and SQC's fitter
  const Layer L = make_layer(300, 256, 5);
  GptqOptions o;
  o.bits = 2;
  o.group_size = 16;
  o.group_bits = {1, 2, 3, 2, 2, 1, 3, 2, 2, 2, 3, 1, 2, 2, 3, 2};
  o.fitter = make_sqc_fitter({});
  expect_row_slices_equal_whole(L, o);
}

// What a rank sends of its quantized rows (quant/row_codes.h): codes at each
// group's width plus fp16 parameters, decoding to the same bits.
void expect_codes_round_trip(const GptqResult& r, int64_t rows, int64_t cols) {
  const RowLayout lay{cols, r.g_idx, r.group_bits};
  const std::vector<std::byte> msg = encode_rows(r.q, r.params, rows, lay);
  ASSERT_TRUE(encoded_as_codes(msg)) << "GPTQ's parameters are fp16-storable, so codes must be sent";
  int64_t bits = 0;
  for (int64_t c = 0; c < cols; ++c) bits += r.group_bits[size_t(r.g_idx[size_t(c)])];
  EXPECT_EQ(int64_t(msg.size()), 1 + rows * lay.groups() * 4 + rows * ((bits + 7) / 8));
  std::vector<float> q(r.q.size(), -1.f);
  std::vector<QuantParams> params(r.params.size());
  EXPECT_EQ(decode_rows(msg, rows, lay, q.data(), params.data()), msg.size());
  EXPECT_EQ(std::memcmp(q.data(), r.q.data(), q.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(params.data(), r.params.data(), params.size() * sizeof(QuantParams)), 0);
}

TEST(RowCodes, GptqRowsDecodeBitForBit) {
  const Layer L = make_layer(300, 256, 7);
  GptqOptions o;
  o.bits = 4;
  o.group_size = 32;
  expect_codes_round_trip(gptq_quantize(L.w, L.rows, L.cols, gptq_factor(L.h, L.cols, o), o), L.rows, L.cols);
  o.act_order = true;  // groups by processing position: g_idx is a permutation's
  expect_codes_round_trip(gptq_quantize(L.w, L.rows, L.cols, gptq_factor(L.h, L.cols, o), o), L.rows, L.cols);
}

TEST(RowCodes, SliMRowsDecodeBitForBit) {  // 1- to 3-bit groups, SQC's parameters
  const Layer L = make_layer(300, 256, 9);
  GptqOptions o;
  o.bits = 2;
  o.group_size = 16;
  o.group_bits = {1, 2, 3, 2, 2, 1, 3, 2, 2, 2, 3, 1, 2, 2, 3, 2};
  o.fitter = make_sqc_fitter({});
  expect_codes_round_trip(gptq_quantize(L.w, L.rows, L.cols, gptq_factor(L.h, L.cols, o), o), L.rows, L.cols);
}

// A scale fp16 cannot hold would change the weights if sent as codes: fp32 goes instead.
TEST(RowCodes, UnstorableParametersTravelAsFp32) {
  const int64_t rows = 3, cols = 8;
  const std::vector<int> g_idx(size_t(cols), 0), bits{4};
  const RowLayout lay{cols, g_idx, bits};
  std::vector<QuantParams> params(size_t(rows), QuantParams{0.1f, 7.f});
  std::vector<float> q(size_t(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) q[size_t(i)] = fake_quant(float(i % 11) * 0.07f - 0.3f, params[0], 4);
  const std::vector<std::byte> msg = encode_rows(q, params, rows, lay);
  EXPECT_FALSE(encoded_as_codes(msg));
  std::vector<float> back(q.size());
  std::vector<QuantParams> pb(params.size());
  EXPECT_EQ(decode_rows(msg, rows, lay, back.data(), pb.data()), msg.size());
  EXPECT_EQ(std::memcmp(back.data(), q.data(), q.size() * sizeof(float)), 0);
  // A truncated message is refused, not read past its end.
  test::expect_error([&] { decode_rows(std::span(msg).first(msg.size() - 1), rows, lay, back.data(), pb.data()); },
                     "rows need");
}

// Past the size where OpenBLAS's Haswell sgemm (AVX2 machines; this test runs
// with whatever kernel OpenBLAS picked) rounded the lazy update by the call's
// row count: with one GEMM over all of a slice's rows, all three splits here differed.
TEST(DistRows, LargeRowSlicesAreBitIdentical) {
  const Layer L = make_layer(2048, 512, 9);
  GptqOptions o;
  o.bits = 2;
  o.group_size = 128;
  o.group_bits = {1, 3, 3, 1};
  o.fitter = make_sqc_fitter({});
  expect_row_slices_equal_whole(L, o);
}

}  // namespace
}  // namespace slim
