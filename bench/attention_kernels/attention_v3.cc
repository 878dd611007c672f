// Attention lab, version 3: the first GEMM version, as it was before being refined into
// version 4 (see attention_kernels.h for what each version taught). Register-tiled GEMMs over
// q/k/v read in place through their leading dimension, K^T and V^T packed by scalar loops,
// the relative logits as their own GEMM, a fresh workspace per call.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention_kernels/attention_v3.cc"
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention_kernels/attention_kernels.h"
#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/attention.h"
#include "ops/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::attention_lab {
namespace HWY_NAMESPACE {
using ops::AttentionDims;
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Register tile of the GEMM: kMR rows of C by kNV vectors of columns. With AVX-512's 32
// registers, 6 x 4 = 24 accumulators + 4 B vectors + 1 broadcast fit; per step of the inner
// loop that is 24 FMAs for 10 loads, so the two FMA ports, not the load ports, set the pace.
// The 16-register targets (AVX2, SSE4) use 4 x 2.
#if HWY_TARGET <= HWY_AVX3
constexpr int kMR = 6;
constexpr int kNV = 4;
#else
constexpr int kMR = 4;
constexpr int kNV = 2;
#endif

// Below AVX2, Highway 1.0.3's MaskedLoad is a full aligned load and may fault on an unaligned
// tail; those targets copy the tail through an aligned stack buffer. BlendedStore is safe on
// every x86 target (AVX2/AVX-512 masked stores, scalar below).
HWY_INLINE VF LoadPartial(DF d, const float* p, size_t n) {
#if HWY_TARGET > HWY_AVX2
  HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)] = {};
  std::memcpy(buf, p, n * sizeof(float));
  return hn::Load(d, buf);
#else
  return hn::MaskedLoad(hn::FirstN(d, n), d, p);
#endif
}
HWY_INLINE void StorePartial(VF v, DF d, float* p, size_t n) {
  hn::BlendedStore(v, hn::FirstN(d, n), d, p);
}

HWY_INLINE int64_t RoundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// ---------------------------------------------------------------------------------------------
// GEMM: C[M, Nc] (= or +=) A[M, Kd] B[Kd, Nc].
//   A: element (i, p) at a[i * lda + p], or at a[p * lda + i] when kTransA (A^T is stored).
//      Only ever read one scalar at a time (broadcast), so any layout and alignment works.
//   B: row p at b + p * ldb; full vectors are loaded, so each row must be readable up to
//      RoundUp(Nc, Lanes) columns (the callers pad their buffers or use exact multiples).
//   C: row i at c + i * ldc; exactly Nc columns are written (and read when accumulating).
// ---------------------------------------------------------------------------------------------

// One tile of up to kMR rows and NV vectors. Rows past `mr` re-read row mr-1 (their sums are
// thrown away): one code path for full and edge tiles, at the price of a few wasted FMAs.
template <int NV, bool kTransA>
HWY_INLINE void GemmTile(int mr, int Kd, const float* HWY_RESTRICT a, int64_t lda,
                         const float* HWY_RESTRICT b, int64_t ldb, float* HWY_RESTRICT c,
                         int64_t ldc, int64_t nc, bool accumulate) {
  const DF d;
  const int64_t L = hn::Lanes(d);
  int64_t aoff[kMR];  // where row i of the tile starts in A
  for (int i = 0; i < kMR; ++i) aoff[i] = std::min(i, mr - 1) * (kTransA ? 1 : lda);
  const int64_t astep = kTransA ? lda : 1;  // A's stride along p

  VF acc[kMR][NV];
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = hn::Zero(d);
  for (int p = 0; p < Kd; ++p) {
    const float* bp = b + p * ldb;
    const float* ap = a + p * astep;
    VF bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = hn::LoadU(d, bp + j * L);
    for (int i = 0; i < kMR; ++i) {
      const VF ai = hn::Set(d, ap[aoff[i]]);
      for (int j = 0; j < NV; ++j) acc[i][j] = hn::MulAdd(ai, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < NV; ++j) {
      const int64_t cols = std::min<int64_t>(L, nc - j * L);
      VF v = acc[i][j];
      if (cols == L) {
        if (accumulate) v = hn::Add(v, hn::LoadU(d, ci + j * L));
        hn::StoreU(v, d, ci + j * L);
      } else {
        if (accumulate) v = hn::Add(v, LoadPartial(d, ci + j * L, cols));
        StorePartial(v, d, ci + j * L, cols);
      }
    }
  }
}

template <bool kTransA>
void Gemm(int M, int Nc, int Kd, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
          int64_t ldc, bool accumulate) {
  const DF d;
  const int64_t L = hn::Lanes(d);
  if (M <= 0 || Nc <= 0) return;
  if (Kd <= 0) {  // empty sum: C = 0 (or unchanged)
    if (!accumulate)
      for (int i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + Nc, 0.f);
    return;
  }
  // Column blocks outside, row tiles inside: a B panel [Kd, kNV * L] (at most 64 KB here)
  // stays in L1/L2 while the A rows stream past it.
  for (int64_t j0 = 0; j0 < Nc; j0 += kNV * L) {
    const int64_t nc = std::min<int64_t>(kNV * L, Nc - j0);
    const int nv = static_cast<int>((nc + L - 1) / L);
    for (int i0 = 0; i0 < M; i0 += kMR) {
      const int mr = std::min(kMR, M - i0);
      const float* ai = a + (kTransA ? i0 : i0 * lda);
      float* ci = c + i0 * ldc + j0;
      const float* bj = b + j0;
      switch (nv) {
#if HWY_TARGET <= HWY_AVX3
        case 4:
          GemmTile<4, kTransA>(mr, Kd, ai, lda, bj, ldb, ci, ldc, nc, accumulate);
          break;
        case 3:
          GemmTile<3, kTransA>(mr, Kd, ai, lda, bj, ldb, ci, ldc, nc, accumulate);
          break;
#endif
        case 2:
          GemmTile<2, kTransA>(mr, Kd, ai, lda, bj, ldb, ci, ldc, nc, accumulate);
          break;
        default:
          GemmTile<1, kTransA>(mr, Kd, ai, lda, bj, ldb, ci, ldc, nc, accumulate);
          break;
      }
    }
  }
}

// dst[c * ld_dst + m] = src[m * ld_src + c]  for m < rows, c < cols; columns rows..ld_dst of
// dst are zeroed so that GEMMs may read whole vectors past the last key.
void PackTransposed(const float* src, int64_t ld_src, int rows, int cols, float* dst,
                    int64_t ld_dst) {
  // Blocks of 16 keys: the 16 source rows stay in L1 while every channel is written.
  constexpr int kBlock = 16;
  for (int m0 = 0; m0 < rows; m0 += kBlock) {
    const int m1 = std::min(rows, m0 + kBlock);
    for (int c = 0; c < cols; ++c) {
      float* out = dst + c * ld_dst;
      for (int m = m0; m < m1; ++m) out[m] = src[m * ld_src + c];
    }
  }
  for (int c = 0; c < cols; ++c) std::fill(dst + c * ld_dst + rows, dst + (c + 1) * ld_dst, 0.f);
}

// Rows of `src` (stride ld) as a GEMM B operand: used in place when whole vectors cover the
// head exactly, else copied with zero padding to `pad` columns.
const float* RowsForB(const float* src, int64_t ld, int rows, int cols, int64_t pad, float* scratch,
                      int64_t* ld_out) {
  if (cols % hn::Lanes(DF()) == 0) {
    *ld_out = ld;
    return src;
  }
  for (int m = 0; m < rows; ++m) {
    std::memcpy(scratch + m * pad, src + m * ld, cols * sizeof(float));
    std::fill(scratch + m * pad + cols, scratch + (m + 1) * pad, 0.f);
  }
  *ld_out = pad;
  return scratch;
}

// ---------------------------------------------------------------------------------------------
// Geometry shared by forward and backward.
// ---------------------------------------------------------------------------------------------
struct Geometry {
  int B, H, W, N, heads, d, C, K, r;  // K = 0: global
  int64_t ld, ldo;
  int nrel, Rh;       // columns of R: Rh = rows of rel_h, nrel = Rh + rows of rel_w
  int keys;           // probability row length
  int64_t L, dpad;    // lanes; d rounded up to whole vectors
  int64_t ldk;        // stride of K^T / V^T: N keys + one vector of slack
  int64_t ldR;        // stride of R / dR
  int64_t ldband;     // stride of the logit band: global N (+slack), local K*W (+slack)
  int band_rows_max;  // queries per block: N (global) or W (local)
  int64_t ldslot;     // local: K*K slots, padded
  float scale;

  explicit Geometry(const AttentionDims& dims) {
    B = dims.batch, H = dims.height, W = dims.width, N = H * W;
    heads = dims.heads, d = dims.head_dim, C = heads * d;
    K = dims.window, r = K ? (K - 1) / 2 : 0;
    ld = dims.qkv_stride();
    ldo = dims.out_stride();
    Rh = dims.rel_rows_h();
    nrel = Rh + dims.rel_rows_w();
    keys = dims.keys();
    L = hn::Lanes(DF());
    dpad = RoundUp(d, L);
    ldk = RoundUp(N + L, L);
    ldR = RoundUp(nrel + L, L);
    const int band_keys = K ? std::min(K, H) * W : N;
    ldband = RoundUp(band_keys + L, L);
    band_rows_max = K ? W : N;
    ldslot = RoundUp(std::max(keys, 1) + L, L);
    scale = 1.f / std::sqrt(static_cast<float>(d));
  }
  // Block of queries [n0, n0 + M) and the keys [k0, k0 + Nk) they can see.
  struct Block {
    int x;  // local: the map row; global: -1
    int n0, M, k0, Nk, xb0;
  };
  int num_blocks() const { return K ? H : 1; }
  Block block(int i) const {
    if (!K) return {-1, 0, N, 0, N, 0};
    const int xb0 = std::max(0, i - r), xb1 = std::min(H, i + r + 1);
    return {i, i * W, W, xb0 * W, (xb1 - xb0) * W, xb0};
  }
};

// ---- the rel-to-abs gather, one query row at a time -----------------------------------------

// Global, in place: row[m] = s * (row[m] + R[x'-x+H-1] + R[Rh + y'-y+W-1]) for the N keys
// m = x' W + y'. For fixed x' the height term is one scalar and the width terms are the
// contiguous run R[Rh + W-1-y .. Rh + 2W-2-y], so each key row is a few vector adds.
// row and rrow may be read up to one vector past their ends (the callers' slack).
void GlobalLogits(const Geometry& g, int x, int y, const float* HWY_RESTRICT rrow,
                  float* HWY_RESTRICT row) {
  const DF d;
  const int64_t L = g.L;
  const VF vs = hn::Set(d, g.scale);
  const float* rw = rrow + g.Rh + (g.W - 1 - y);  // rw[y'] = R[Rh + y' - y + W - 1]
  for (int x2 = 0; x2 < g.H; ++x2) {
    const VF rh = hn::Set(d, rrow[x2 - x + g.H - 1]);
    float* sr = row + x2 * g.W;
    for (int64_t y2 = 0; y2 < g.W; y2 += L) {
      const VF v = hn::Mul(vs, hn::Add(hn::Add(hn::LoadU(d, sr + y2), rh), hn::LoadU(d, rw + y2)));
      if (y2 + L <= g.W)
        hn::StoreU(v, d, sr + y2);
      else
        StorePartial(v, d, sr + y2, g.W - y2);  // in place: must not touch the next key row
    }
  }
}

// Global backward, in place. In: row = dP (dL/dP for the N keys), prow = P. Out: row = s dS
// where dS = P (dP - sum_m P dP) is the logit gradient, and drow = its rel-to-abs adjoint:
//   drow[x'-x+H-1]      = sum_y' row[x' W + y']      (every key of map row x' used that row)
//   drow[Rh + y'-y+W-1] = sum_x' row[x' W + y']
// with zeros for the table rows this query never touched.
void GlobalLogitsBackward(const Geometry& g, int x, int y, const float* HWY_RESTRICT prow,
                          float* HWY_RESTRICT row, float* HWY_RESTRICT drow,
                          float* HWY_RESTRICT colsum) {
  const DF d;
  const int64_t L = g.L, N = g.N;
  auto acc = hn::Zero(d);
  int64_t m = 0;
  for (; m + L <= N; m += L) acc = hn::MulAdd(hn::LoadU(d, prow + m), hn::LoadU(d, row + m), acc);
  if (m < N) acc = hn::MulAdd(LoadPartial(d, prow + m, N - m), hn::LoadU(d, row + m), acc);
  const VF dot = hn::Set(d, hn::GetLane(hn::SumOfLanes(d, acc)));
  const VF vs = hn::Set(d, g.scale);
  // row = s * P * (dP - dot); the slack past N gets P = 0 from LoadPartial, so stays finite.
  for (m = 0; m < N; m += L) {
    const VF p = m + L <= N ? hn::LoadU(d, prow + m) : LoadPartial(d, prow + m, N - m);
    hn::StoreU(hn::Mul(vs, hn::Mul(p, hn::Sub(hn::LoadU(d, row + m), dot))), d, row + m);
  }
  std::fill(drow, drow + g.nrel, 0.f);
  std::fill(colsum, colsum + RoundUp(g.W, L), 0.f);
  for (int x2 = 0; x2 < g.H; ++x2) {
    const float* sr = row + x2 * g.W;
    auto rs = hn::Zero(d);
    for (int64_t y2 = 0; y2 < g.W; y2 += L) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(L, g.W - y2));
      // Keys past this map row belong to the next one: masked out of both sums.
      const VF v = hn::IfThenElseZero(hn::FirstN(d, n), hn::LoadU(d, sr + y2));
      rs = hn::Add(rs, v);
      hn::Store(hn::Add(hn::Load(d, colsum + y2), v), d, colsum + y2);
    }
    drow[x2 - x + g.H - 1] = hn::GetLane(hn::SumOfLanes(d, rs));
  }
  std::memcpy(drow + g.Rh + (g.W - 1 - y), colsum, g.W * sizeof(float));
}

// ---- per (batch, head) drivers --------------------------------------------------------------

// One thread's scratch, reused for every (batch, head) it runs. All buffers are aligned and
// carry at least one vector of slack, so GEMMs and row kernels may read whole vectors.
struct Workspace {
  hwy::AlignedFreeUniquePtr<float[]> mem;
  float* kt;       // [d, ldk]  K^T (forward) or V^T (backward)
  float* band;     // [M, ldband]  logits / dP / s dS of one block
  float* pband;    // [M, ldband]  local: P scattered into the band
  float* R;        // [N, ldR]  relative logits (forward) or their gradient dR (backward)
  float* slot;     // [ldslot]  local: one query's window
  float* colsum;   // [W]  global backward: sums down the key columns
  float* pack[3];  // [N, dpad]  q / k / v / dout rows copied when d is not whole vectors
  Workspace(const Geometry& g, bool backward) {
    const bool packs = g.d % g.L != 0;
    const int64_t sizes[8] = {
        g.dpad * g.ldk,
        int64_t(g.band_rows_max) * g.ldband,
        g.K ? int64_t(g.band_rows_max) * g.ldband : 0,
        int64_t(g.N) * g.ldR,
        g.K ? g.ldslot : 0,
        RoundUp(g.W, g.L),
        packs ? int64_t(g.N) * g.dpad : 0,
        packs && backward ? 2 * int64_t(g.N) * g.dpad : 0,
    };
    int64_t total = 0;
    for (int64_t sz : sizes) total += sz + g.L;  // + L keeps every buffer aligned
    mem = hwy::AllocateAligned<float>(total);
    float* p = mem.get();
    float* starts[8];
    for (int i = 0; i < 8; ++i) {
      starts[i] = p;
      p += sizes[i] + g.L;
    }
    kt = starts[0], band = starts[1], pband = starts[2], R = starts[3], slot = starts[4];
    colsum = starts[5];
    pack[0] = starts[6];
    pack[1] = starts[7];
    pack[2] = starts[7] + int64_t(g.N) * g.dpad;
  }
};

// Local forward of one query row: gather the window from the band, softmax, scatter P back.
void LocalRowForward(const Geometry& g, const Geometry::Block& blk, int y,
                     const float* HWY_RESTRICT srow, const float* HWY_RESTRICT rrow,
                     float* HWY_RESTRICT slot, float* HWY_RESTRICT prow_band,
                     float* HWY_RESTRICT probs_row) {
  const int K = g.K, x = blk.x;
  // logit(i, j) = s * (S[x', y'] + R[i] + R[K + j]), key (x', y') = (x + i - r, y + j - r);
  // keys outside the map get -inf, hence exp() = 0: they take no probability.
  for (int i = 0; i < K; ++i) {
    const int x2 = x + i - g.r;
    for (int j = 0; j < K; ++j) {
      const int y2 = y + j - g.r;
      const bool valid = x2 >= 0 && x2 < g.H && y2 >= 0 && y2 < g.W;
      slot[i * K + j] =
          valid ? g.scale * (srow[(x2 - blk.xb0) * g.W + y2] + rrow[i] + rrow[K + j]) : -INFINITY;
    }
  }
  ops::HWY_NAMESPACE::SoftmaxRow(slot, slot, g.keys);
  if (probs_row) std::memcpy(probs_row, slot, g.keys * sizeof(float));
  std::fill(prow_band, prow_band + blk.Nk, 0.f);
  for (int i = 0; i < K; ++i) {
    const int x2 = x + i - g.r;
    if (x2 < 0 || x2 >= g.H) continue;
    for (int j = 0; j < K; ++j) {
      const int y2 = y + j - g.r;
      if (y2 >= 0 && y2 < g.W) prow_band[(x2 - blk.xb0) * g.W + y2] = slot[i * K + j];
    }
  }
}

void ForwardHead(const Geometry& g, int b, int h, const float* q, const float* k, const float* v,
                 const float* relT, float* out, float* probs, Workspace& ws) {
  const int N = g.N, d = g.d;
  const float* qh = q + int64_t(b) * N * g.ld + h * d;  // q row n at qh + n * ld
  const float* kh = k + int64_t(b) * N * g.ld + h * d;
  const float* vh = v + int64_t(b) * N * g.ld + h * d;
  float* oh = out + int64_t(b) * N * g.ldo + h * d;
  float* ph = probs ? probs + (int64_t(b) * g.heads + h) * N * g.keys : nullptr;

  PackTransposed(kh, g.ld, N, d, ws.kt, g.ldk);  // K^T: keys contiguous for the vector loads
  // R = Q [rel_h; rel_w]^T: the relative logits, once per query.
  Gemm<false>(N, g.nrel, d, qh, g.ld, relT, g.ldR, ws.R, g.ldR, false);
  int64_t ldv;
  const float* vb = RowsForB(vh, g.ld, N, d, g.dpad, ws.pack[0], &ldv);

  for (int bi = 0; bi < g.num_blocks(); ++bi) {
    const Geometry::Block blk = g.block(bi);
    // S = Q K^T over the block's queries and visible keys.
    Gemm<false>(blk.M, blk.Nk, d, qh + blk.n0 * g.ld, g.ld, ws.kt + blk.k0, g.ldk, ws.band,
                g.ldband, false);
    float* pband = ws.band;
    for (int t = 0; t < blk.M; ++t) {
      const int n = blk.n0 + t, x = n / g.W, y = n % g.W;
      float* srow = ws.band + t * g.ldband;
      if (!g.K) {
        GlobalLogits(g, x, y, ws.R + n * g.ldR, srow);
        ops::HWY_NAMESPACE::SoftmaxRow(srow, srow,
                                       N);  // aligned row with slack: safe on every target
        if (ph) std::memcpy(ph + int64_t(n) * N, srow, N * sizeof(float));
      } else {
        pband = ws.pband;
        LocalRowForward(g, blk, y, srow, ws.R + n * g.ldR, ws.slot, ws.pband + t * g.ldband,
                        ph ? ph + int64_t(n) * g.keys : nullptr);
      }
    }
    // out = P V
    Gemm<false>(blk.M, d, blk.Nk, pband, g.ldband, vb + blk.k0 * ldv, ldv, oh + blk.n0 * g.ldo,
                g.ldo, false);
  }
}

// Local backward of one query row: gather dP over the window, form s dS, scatter it (and P)
// into the band, and sum it into the rel-table rows it came from (the gather's adjoint).
void LocalRowBackward(const Geometry& g, const Geometry::Block& blk, int y,
                      const float* HWY_RESTRICT prow, float* HWY_RESTRICT dband_row,
                      float* HWY_RESTRICT pband_row, float* HWY_RESTRICT drow,
                      float* HWY_RESTRICT slot) {
  const int K = g.K, x = blk.x;
  float* dp = slot;  // dP over the window; 0 where masked (P is 0 there too)
  float dot = 0;
  for (int i = 0; i < K; ++i) {
    const int x2 = x + i - g.r;
    for (int j = 0; j < K; ++j) {
      const int y2 = y + j - g.r;
      const bool valid = x2 >= 0 && x2 < g.H && y2 >= 0 && y2 < g.W;
      dp[i * K + j] = valid ? dband_row[(x2 - blk.xb0) * g.W + y2] : 0.f;
      dot += prow[i * K + j] * dp[i * K + j];
    }
  }
  std::fill(dband_row, dband_row + blk.Nk, 0.f);
  std::fill(pband_row, pband_row + blk.Nk, 0.f);
  std::fill(drow, drow + g.nrel, 0.f);
  for (int i = 0; i < K; ++i) {
    const int x2 = x + i - g.r;
    for (int j = 0; j < K; ++j) {
      const int y2 = y + j - g.r;
      if (x2 < 0 || x2 >= g.H || y2 < 0 || y2 >= g.W) continue;
      const float p = prow[i * K + j];
      const float ds = g.scale * p * (dp[i * K + j] - dot);  // s * dlogit
      dband_row[(x2 - blk.xb0) * g.W + y2] = ds;
      pband_row[(x2 - blk.xb0) * g.W + y2] = p;
      drow[i] += ds;      // logit(i, j) read rel_h row i ...
      drow[K + j] += ds;  // ... and rel_w row j
    }
  }
}

void BackwardHead(const Geometry& g, int b, int h, const float* q, const float* k, const float* v,
                  const float* relp, const float* probs, const float* dout, float* dq, float* dk,
                  float* dv, float* drel, Workspace& ws) {
  const int N = g.N, d = g.d;
  const int64_t base = int64_t(b) * N * g.ld + h * d;
  const float* qh = q + base;
  const float* kh = k + base;
  const float* vh = v + base;
  const float* gh = dout + int64_t(b) * N * g.ldo + h * d;
  const float* ph = probs + (int64_t(b) * g.heads + h) * N * g.keys;
  float* dqh = dq ? dq + base : nullptr;
  float* dkh = dk ? dk + base : nullptr;
  float* dvh = dv ? dv + base : nullptr;
  const bool need_ds = dq || dk || drel;  // only dv can do without the logit gradient

  PackTransposed(vh, g.ld, N, d, ws.kt, g.ldk);  // V^T, for dP = dout V^T
  int64_t ldq = 0, ldg = 0, ldk = 0;             // B operands: rows used in place or padded copies
  const float* qb = (dk || drel) ? RowsForB(qh, g.ld, N, d, g.dpad, ws.pack[0], &ldq) : nullptr;
  const float* gb = dv ? RowsForB(gh, g.ldo, N, d, g.dpad, ws.pack[1], &ldg) : nullptr;
  const float* kb = dq ? RowsForB(kh, g.ld, N, d, g.dpad, ws.pack[2], &ldk) : nullptr;
  // Local blocks overlap in keys, so dk and dv add up over blocks: start them at zero.
  if (g.K) {
    for (int n = 0; n < N; ++n) {
      if (dkh) std::fill(dkh + n * g.ld, dkh + n * g.ld + d, 0.f);
      if (dvh) std::fill(dvh + n * g.ld, dvh + n * g.ld + d, 0.f);
    }
  }
  for (int bi = 0; bi < g.num_blocks(); ++bi) {
    const Geometry::Block blk = g.block(bi);
    const bool acc = g.K != 0;
    if (need_ds) {
      // dP = dout V^T  (out = P V)
      Gemm<false>(blk.M, blk.Nk, d, gh + blk.n0 * g.ldo, g.ldo, ws.kt + blk.k0, g.ldk, ws.band,
                  g.ldband, false);
      for (int t = 0; t < blk.M; ++t) {
        const int n = blk.n0 + t, x = n / g.W, y = n % g.W;
        float* row = ws.band + t * g.ldband;
        if (!g.K)
          GlobalLogitsBackward(g, x, y, ph + int64_t(n) * N, row, ws.R + n * g.ldR, ws.colsum);
        else
          LocalRowBackward(g, blk, y, ph + int64_t(n) * g.keys, row, ws.pband + t * g.ldband,
                           ws.R + n * g.ldR, ws.slot);
      }
    } else if (g.K) {
      for (int t = 0; t < blk.M; ++t) {  // dv alone still needs P in band form
        const int n = blk.n0 + t, y = n % g.W;
        float* pb = ws.pband + t * g.ldband;
        std::fill(pb, pb + blk.Nk, 0.f);
        for (int i = 0; i < g.K; ++i)
          for (int j = 0; j < g.K; ++j) {
            const int x2 = blk.x + i - g.r, y2 = y + j - g.r;
            if (x2 >= 0 && x2 < g.H && y2 >= 0 && y2 < g.W)
              pb[(x2 - blk.xb0) * g.W + y2] = ph[int64_t(n) * g.keys + i * g.K + j];
          }
      }
    }
    // band now holds s dS for the block: logit = s q.(k + rel_h + rel_w), so
    //   dq = s dS (K + gathered rel rows),   dk = (s dS)^T q,   drel = (s dR)^T q.
    if (dqh) {
      Gemm<false>(blk.M, d, blk.Nk, ws.band, g.ldband, kb + blk.k0 * ldk, ldk, dqh + blk.n0 * g.ld,
                  g.ld, false);
      // + dR relp, relp [nrel, dpad] the rel rows packed with zero padding
      Gemm<false>(blk.M, d, g.nrel, ws.R + blk.n0 * g.ldR, g.ldR, relp, g.dpad, dqh + blk.n0 * g.ld,
                  g.ld, true);
    }
    if (dkh)
      Gemm<true>(blk.Nk, d, blk.M, ws.band, g.ldband, qb + blk.n0 * ldq, ldq, dkh + blk.k0 * g.ld,
                 g.ld, acc);
    if (dvh) {
      // dv = P^T dout  (out = P V). Global P is the saved probs itself.
      const float* pa = g.K ? ws.pband : ph;
      const int64_t lda = g.K ? g.ldband : N;
      Gemm<true>(blk.Nk, d, blk.M, pa, lda, gb + blk.n0 * ldg, ldg, dvh + blk.k0 * g.ld, g.ld, acc);
    }
  }
  // drel (this thread's partial) += dR^T q over all queries of the head.
  if (drel) Gemm<true>(g.nrel, d, N, ws.R, g.ldR, qb, ldq, drel, g.dpad, true);
}

// ---- entry points ---------------------------------------------------------------------------

void AttentionForwardImpl(const AttentionDims& dims, const float* q, const float* k, const float* v,
                          const float* rel_h, const float* rel_w, float* out, float* probs) {
  const Geometry g(dims);
  // [rel_h; rel_w]^T, shared by every head: [d, ldR], zero past nrel.
  auto relT = hwy::AllocateAligned<float>(g.dpad * g.ldR);
  {
    std::vector<float> rows(int64_t(g.nrel) * g.d);
    std::memcpy(rows.data(), rel_h, int64_t(g.Rh) * g.d * sizeof(float));
    std::memcpy(rows.data() + int64_t(g.Rh) * g.d, rel_w,
                int64_t(g.nrel - g.Rh) * g.d * sizeof(float));
    PackTransposed(rows.data(), g.d, g.nrel, g.d, relT.get(), g.ldR);
  }
  const int BH = g.B * g.heads;
#pragma omp parallel if (BH > 1 && !omp_in_parallel())
  {
    Workspace ws(g, false);
#pragma omp for schedule(static)
    for (int bh = 0; bh < BH; ++bh)
      ForwardHead(g, bh / g.heads, bh % g.heads, q, k, v, relT.get(), out, probs, ws);
  }
}

void AttentionBackwardImpl(const AttentionDims& dims, const float* q, const float* k,
                           const float* v, const float* rel_h, const float* rel_w,
                           const float* probs, const float* dout, float* dq, float* dk, float* dv,
                           float* drel_h, float* drel_w) {
  const Geometry g(dims);
  // [rel_h; rel_w] rows padded to dpad: the B operand of dq += dR rel.
  auto relp = hwy::AllocateAligned<float>(int64_t(g.nrel) * g.dpad + g.L);
  for (int i = 0; i < g.nrel; ++i) {
    const float* src = i < g.Rh ? rel_h + int64_t(i) * g.d : rel_w + int64_t(i - g.Rh) * g.d;
    std::memcpy(relp.get() + i * g.dpad, src, g.d * sizeof(float));
    std::fill(relp.get() + i * g.dpad + g.d, relp.get() + (i + 1) * g.dpad, 0.f);
  }
  const bool want_drel = drel_h || drel_w;
  const int BH = g.B * g.heads;
  const bool par = BH > 1 && !omp_in_parallel();
  const int nthreads = par ? omp_get_max_threads() : 1;
  // The tables are shared by all (batch, head) pairs: each thread sums into its own partial,
  // and the partials are added in thread order, so results repeat for a given thread count.
  std::vector<hwy::AlignedFreeUniquePtr<float[]>> partial(nthreads);
#pragma omp parallel num_threads(nthreads) if (par)
  {
    const int t = omp_get_thread_num();
    Workspace ws(g, true);
    if (want_drel) {
      partial[t] = hwy::AllocateAligned<float>(int64_t(g.nrel) * g.dpad);
      std::fill(partial[t].get(), partial[t].get() + int64_t(g.nrel) * g.dpad, 0.f);
    }
#pragma omp for schedule(static)
    for (int bh = 0; bh < BH; ++bh)
      BackwardHead(g, bh / g.heads, bh % g.heads, q, k, v, relp.get(), probs, dout, dq, dk, dv,
                   want_drel ? partial[t].get() : nullptr, ws);
  }
  if (!want_drel) return;
  for (int i = 0; i < g.nrel; ++i) {
    float* dst = i < g.Rh ? drel_h + int64_t(i) * g.d : drel_w + int64_t(i - g.Rh) * g.d;
    if ((i < g.Rh && !drel_h) || (i >= g.Rh && !drel_w)) continue;
    for (int c = 0; c < g.d; ++c) {
      float s = 0;
      for (int t = 0; t < nthreads; ++t)
        if (partial[t]) s += partial[t][i * g.dpad + c];
      dst[c] = s;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::attention_lab
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::attention_lab {

HWY_EXPORT(AttentionForwardImpl);
HWY_EXPORT(AttentionBackwardImpl);

void attention_forward_v3(const ops::AttentionDims& dims, const float* q, const float* k,
                          const float* v, const float* rel_h, const float* rel_w, float* out,
                          float* probs) {
  ops::check_attention_dims(dims);
  HWY_DYNAMIC_DISPATCH(AttentionForwardImpl)(dims, q, k, v, rel_h, rel_w, out, probs);
}

void attention_backward_v3(const ops::AttentionDims& dims, const float* q, const float* k,
                           const float* v, const float* rel_h, const float* rel_w,
                           const float* probs, const float* dout, float* dq, float* dk, float* dv,
                           float* drel_h, float* drel_w) {
  ops::check_attention_dims(dims);
  HWY_DYNAMIC_DISPATCH(AttentionBackwardImpl)
  (dims, q, k, v, rel_h, rel_w, probs, dout, dq, dk, dv, drel_h, drel_w);
}

}  // namespace hsanet::attention_lab
#endif  // HWY_ONCE
