// Scalar side of the int8 GEMV: table quantization and the reference.
#include "pack/int8_gemv.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/half.h"

namespace slim::pack_detail {

namespace {
// The 16 subset sums of x[0..3]: subset v = subset v without its top bit + that x.
void subset_sums(const float* x, float (&t)[16]) {
  t[0] = 0.f;
  for (int v = 1; v < 16; ++v) {
    const int top = v >= 8 ? 3 : v >= 4 ? 2 : v >= 2 ? 1 : 0;
    t[v] = t[v - (1 << top)] + x[top];
  }
}
}  // namespace

void build_int8_tables(const PackedLinear& L, const float* xp, int8_t* tq, float* st) {
  const int64_t G = L.n_groups();
  const auto pcol = L.padded_columns();
  for (int64_t g = 0; g < G; ++g) {
    const int64_t n0 = pcol[size_t(g)] / 4, n1 = pcol[size_t(g + 1)] / 4;
    // One scale per group, so that every lookup of the group shares it.
    float m = 0.f, t[16];
    for (int64_t n = n0; n < n1; ++n) {
      subset_sums(xp + 4 * n, t);
      for (float v : t) m = std::max(m, std::fabs(v));
    }
    st[g] = m / 127.f;
    const float inv = m > 0.f ? 127.f / m : 0.f;
    for (int64_t n = n0; n < n1; ++n) {
      subset_sums(xp + 4 * n, t);
      for (int v = 0; v < 16; ++v) tq[16 * int8_table_slot(n) + v] = int8_t(std::clamp(std::nearbyint(t[v] * inv), -127.f, 127.f));
    }
  }
}

void build_int8_tiles(const PackedLinear& L, uint8_t* out) {
  for_each_int8_tile_chunk(
      L, out,
      [](const uint8_t* const* row, int64_t pb, int j, int64_t o, int64_t kc, uint8_t* o8) {
        for (int r = 0; r < 16; ++r) {
          const uint8_t* lo = row[r] + j * pb + o;
          uint8_t* d = o8 + 16 * (r / 8) + 2 * (r % 8);
          for (int64_t k = 0; k < kc; ++k) {
            d[32 * k] = lo[k];
            d[32 * k + 1] = lo[pb + k];
          }
        }
      },
      [](const uint8_t* const* row, int64_t pb, int j, int64_t o, int64_t kc, uint8_t* o8) {
        for (int r = 0; r < 16; ++r) {
          const uint8_t* lo = row[r] + j * pb + o;
          for (int64_t k = 0; k < kc; ++k) o8[16 * k + r] = lo[k];
        }
      });
}

void build_int8_meta(const PackedLinear& L, uint8_t* out) {
  const PackedParts& P = L.parts();
  const int64_t G = L.n_groups(), n1 = L.n_onebit(), nblk = L.rows() / 16;
  const Int8Meta lay = int8_meta_layout(L);
  const auto zero = L.zero_points();
#pragma omp parallel for schedule(static) if (nblk * (G + n1) >= 4096)
  for (int64_t i = 0; i < nblk; ++i) {
    uint8_t* m = out + i * lay.bytes;
    uint16_t* sc = reinterpret_cast<uint16_t*>(m);                   // (G, 16)
    uint8_t* zr = m + lay.zeros;                                     // (G, 16)
    uint16_t* mean = reinterpret_cast<uint16_t*>(m + lay.means);     // (n1, 16)
    for (int64_t l = 0; l < 16; ++l) {
      const int64_t r = 16 * i + l;
      for (int64_t g = 0; g < G; ++g) {
        sc[g * 16 + l] = P.scales[size_t(r * G + g)];
        zr[g * 16 + l] = zero[size_t(r * G + g)];
      }
      for (int64_t c = 0; c < n1; ++c) mean[c * 16 + l] = P.offsets[size_t(r * n1 + c)];
    }
  }
}

void matmul_reference_int8(const PackedLinear& L, const float* x, float* y, int64_t T) {
  const PackedParts& P = L.parts();
  const int64_t R = L.rows(), C = L.cols(), G = L.n_groups(), n1 = L.n_onebit(), rb = L.row_bytes();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto goff = L.group_offsets();
  const auto zero = L.zero_points();
  const auto onecol = L.onebit_column();
  std::vector<float> xp(static_cast<size_t>(pcol[size_t(G)])), xs(static_cast<size_t>(G)), st(static_cast<size_t>(G));
  std::vector<int8_t> tq(size_t(16 * (pcol[size_t(G)] / 4)));
  for (int64_t t = 0; t < T; ++t) {
    std::fill(xp.begin(), xp.end(), 0.f);
    for (int64_t g = 0; g < G; ++g) {
      float s = 0.f;
      for (int64_t c = gcol[size_t(g)]; c < gcol[size_t(g + 1)]; ++c)
        s += xp[size_t(pcol[size_t(g)] + c - gcol[size_t(g)])] = x[t * C + c];
      xs[size_t(g)] = s;
    }
    build_int8_tables(L, xp.data(), tq.data(), st.data());
    for (int64_t r = 0; r < R; ++r) {
      double acc = 0;
      for (int64_t g = 0; g < G; ++g) {
        const int b = L.bits(g);
        const int64_t pb = plane_bytes(gcol[size_t(g + 1)] - gcol[size_t(g)]);
        const uint8_t* base = P.codes.data() + r * rb + goff[size_t(g)];
        const int8_t* tab = tq.data() + 4 * pcol[size_t(g)];  // 16 entries per 4 columns; the group starts a quad
        int64_t sum = 0;
        for (int j = 0; j < b; ++j)
          for (int64_t n = 0; n < 2 * pb; ++n) {
            const int nib = (base[j * pb + n / 2] >> (4 * (n % 2))) & 15;
            sum += int64_t(tab[16 * int8_table_slot(n) + nib]) << j;
          }
        const float scale = f16_to_f32(P.scales[size_t(r * G + g)]);
        float f, sh;
        if (b == 1) {
          f = 2.f * scale;
          sh = f16_to_f32(P.offsets[size_t(r * n1 + onecol[size_t(g)])]) - scale;
        } else {
          f = scale;
          sh = -scale * float(zero[size_t(r * G + g)]);
        }
        acc += double(f) * double(st[size_t(g)]) * double(sum) + double(sh) * double(xs[size_t(g)]);
      }
      y[t * R + r] = float(acc);
    }
  }
}

}  // namespace slim::pack_detail
