// The attention core (attention.h) on Highway: register-tiled GEMMs (gemm-inl.h) with the relative
// logits fused in by gathering, the row softmax of softmax-inl.h, and a backward in the same
// GEMM form. Derivation and a line-by-line map: docs/attention.md. The bench's kernel lab
// (bench/attention_kernels/) keeps the earlier versions this one is measured against.
//
// Per (batch, head) the forward is three matrix products and a gather:
//   S  = Q K^T                     [N, N]     raw content logits (q not yet scaled)
//   R  = Q [rel_h; rel_w]^T        [N, Rh+Rw] every relative logit a query can use, computed
//                                             once: 2H-1 + 2W-1 dot products, not 2N
//   logit[n, m] = s * (S[n, m] + R[n, x'-x+H-1] + R[n, Rh + y'-y+W-1])     (rel-to-abs gather)
//   P  = softmax(logit) per row;  out = P V
// Local attention runs the same code per map row x: its queries see only the band of K map
// rows around x, so S is [W, band] instead of [N, N], and the gather picks the K x K window.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/attention.cc"
#include "ops/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/attention_window.h"
#include "ops/gemm-inl.h"
#include "ops/simd_tail-inl.h"
#include "ops/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// ---------------------------------------------------------------------------------------------
// Geometry shared by forward and backward.
// ---------------------------------------------------------------------------------------------
struct Geometry {
  // The problem, in docs/attention.md's notation.
  int B, H, W, N;    // images; map rows, columns; positions N = H W
  int heads, d, C;   // heads, channels per head, C = heads d
  int K, radius;     // local window K x K and radius (K - 1) / 2; K = 0: global attention
  int Rh, rel_rows;  // rows of rel_h; rows of rel_h and rel_w together (Rh + Rw)
  int keys;          // length of a probability row: N (global) or K K (local)
  int64_t ld_qkv;    // row stride of q, k, v and their gradients
  int64_t ld_out;    // row stride of out and dout
  float scale;       // 1 / sqrt(d)
  // The kernels' layout.
  int64_t lanes;     // floats per vector on this target
  int64_t d_padded;  // d rounded up to whole vectors: the packed rows' stride
  // Global attention appends the rel_rows relative columns to the N key columns: one GEMM gives
  // S and R side by side, and in backward one GEMM takes dS and dR together. Local attention
  // keeps R apart (it is per query; the band is per block of queries): 0 columns.
  int band_rel_cols;
  int64_t ld_kt;          // stride of K^T / V^T: N (+ band_rel_cols) columns and slack
  int64_t ld_rel;         // local: stride of R / dR, one row per query
  int64_t ld_band;        // stride of the band: global N + rel_rows, local K W, + slack
  int max_block_queries;  // queries per block: N (global) or W (local)
  int64_t ld_slot;        // local: the K K slots of one query, padded

  explicit Geometry(const AttentionDims& dims) {
    B = dims.batch, H = dims.height, W = dims.width, N = H * W;
    heads = dims.heads, d = dims.head_dim, C = heads * d;
    K = dims.window, radius = K ? (K - 1) / 2 : 0;
    Rh = dims.rel_rows_h();
    rel_rows = Rh + dims.rel_rows_w();
    keys = dims.keys();
    ld_qkv = dims.qkv_stride();
    ld_out = dims.out_stride();
    scale = 1.f / std::sqrt(static_cast<float>(d));
    lanes = hn::Lanes(DF());
    d_padded = RoundUp(d, lanes);
    band_rel_cols = K ? 0 : rel_rows;
    ld_kt = RoundUp(N + band_rel_cols + lanes, lanes);
    ld_rel = RoundUp(rel_rows + lanes, lanes);
    const int band_keys = K ? std::min(K, H) * W : N + rel_rows;
    ld_band = RoundUp(band_keys + lanes, lanes);
    max_block_queries = K ? W : N;
    ld_slot = RoundUp(std::max(keys, 1) + lanes, lanes);
  }
  // A block of queries [query0, query0 + queries) and the keys [key0, key0 + visible_keys)
  // they can see. Global: one block, every query and key. Local: map row x's W queries, and
  // the key rows key_row0 .. within the window's reach.
  struct Block {
    int x;  // local: the map row; global: -1
    int query0, queries, key0, visible_keys, key_row0;
  };
  int num_blocks() const { return K ? H : 1; }
  Block block(int i) const {
    if (!K) return {-1, 0, N, 0, N, 0};
    const int row0 = std::max(0, i - radius), row1 = std::min(H, i + radius + 1);
    return {i, i * W, W, row0 * W, (row1 - row0) * W, row0};
  }
};

// ---- the rel-to-abs gather, one query row at a time -----------------------------------------

// Global, in place, fused with the softmax. In: row[0, N) = q.k for the N keys and
// row[N, N + rel_rows) = R, the q.rel dot products. Then
//   logit[m] = s * (row[m] + R[x'-x+H-1] + R[Rh + y'-y+W-1])  for the key m = x' W + y':
// for fixed x' the height term is one scalar and the width terms are the contiguous run
// R[Rh + W-1-y ..], so each map row of keys is one or two vector adds.
// Out: P = softmax(logit) in row[0, N) and, when probs_row is given, there too.
void GlobalRowForward(const Geometry& g, int x, int y, float* HWY_RESTRICT row,
                      float* HWY_RESTRICT probs_row) {
  const DF d;
  const int64_t L = g.lanes;
  const float* R = row + g.N;
  const VF vs = hn::Set(d, g.scale);
  const float* rw = R + g.Rh + (g.W - 1 - y);  // rw[y'] = R[Rh + y' - y + W - 1]
  VF vmax = hn::Set(d, -HUGE_VALF);
  for (int x2 = 0; x2 < g.H; ++x2) {
    const VF rh = hn::Set(d, R[x2 - x + g.H - 1]);
    float* sr = row + x2 * g.W;
    for (int64_t y2 = 0; y2 < g.W; y2 += L) {
      const VF v = hn::Mul(vs, hn::Add(hn::Add(hn::LoadU(d, sr + y2), rh), hn::LoadU(d, rw + y2)));
      if (y2 + L <= g.W) {
        hn::StoreU(v, d, sr + y2);
        vmax = hn::Max(vmax, v);
      } else {  // in place: must not touch the next key row, nor count its lanes in the max
        const auto m = hn::FirstN(d, static_cast<size_t>(g.W - y2));
        StorePart(v, d, sr + y2, g.W - y2);
        vmax = hn::Max(vmax, hn::IfThenElse(m, v, hn::Set(d, -HUGE_VALF)));
      }
    }
  }
  // Softmax: exp(logit - max) (every term <= 1, the largest exactly 1, so the sum is >= 1).
  const float mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  const VF vmx = hn::Set(d, mx);
  VF s0 = hn::Zero(d), s1 = hn::Zero(d);  // two sums: the adds need not wait on each other
  int64_t m = 0;
  for (; m + 2 * L <= g.N; m += 2 * L) {
    const VF e0 = hn::Exp(d, hn::Sub(hn::LoadU(d, row + m), vmx));
    const VF e1 = hn::Exp(d, hn::Sub(hn::LoadU(d, row + m + L), vmx));
    hn::StoreU(e0, d, row + m);
    hn::StoreU(e1, d, row + m + L);
    s0 = hn::Add(s0, e0);
    s1 = hn::Add(s1, e1);
  }
  for (; m < g.N; m += L) {  // lanes past N hold R or slack: kept out of the sum
    const auto mask = hn::FirstN(d, static_cast<size_t>(std::min<int64_t>(L, g.N - m)));
    const VF e = hn::IfThenElseZero(mask, hn::Exp(d, hn::Sub(hn::LoadU(d, row + m), vmx)));
    hn::StoreU(e, d, row + m);  // past N lie R (already gathered) and slack: free to overwrite
    s0 = hn::Add(s0, e);
  }
  const float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  const VF inv = hn::Set(d, 1.f / sum);
  for (m = 0; m + L <= g.N; m += L) {
    const VF p = hn::Mul(hn::LoadU(d, row + m), inv);
    hn::StoreU(p, d, row + m);
    if (probs_row) hn::StoreU(p, d, probs_row + m);
  }
  if (m < g.N) {
    const VF p = hn::Mul(hn::LoadU(d, row + m), inv);
    StorePart(p, d, row + m, g.N - m);
    if (probs_row) StorePart(p, d, probs_row + m, g.N - m);
  }
}

// Global backward, in place. In: row[0, N) = dP (dL/dP for the N keys), prow = P. Out:
// row[0, N) = s dS, where dS = P (dP - sum_m P dP) is the logit gradient, and row[N, N+rel_rows)
// = s dR, its rel-to-abs adjoint: every key of map row x' read R[x'-x+H-1], every key of map
// column y' read R[Rh + y'-y+W-1], so
//   dR[x'-x+H-1]      = sum_y' dS[x' W + y']
//   dR[Rh + y'-y+W-1] = sum_x' dS[x' W + y']
// and the table rows this query never read get zero.
void GlobalRowBackward(const Geometry& g, int x, int y, const float* HWY_RESTRICT prow,
                       float* HWY_RESTRICT row, float* HWY_RESTRICT colsum) {
  const DF d;
  const int64_t L = g.lanes, N = g.N;
  auto acc = hn::Zero(d);
  int64_t m = 0;
  for (; m + L <= N; m += L) acc = hn::MulAdd(hn::LoadU(d, prow + m), hn::LoadU(d, row + m), acc);
  // Past N the row holds whatever the scratch held (even NaN or inf): both operands of the
  // tail are loaded masked, since 0 * NaN would poison the dot.
  if (m < N) acc = hn::MulAdd(LoadPart(d, prow + m, N - m), LoadPart(d, row + m, N - m), acc);
  const VF dot = hn::Set(d, hn::GetLane(hn::SumOfLanes(d, acc)));
  const VF vs = hn::Set(d, g.scale);
  // row = s * P * (dP - dot), whole vectors: lanes past N get 0 * (0 - dot) = 0 and are
  // overwritten below (dR) or never read.
  for (m = 0; m < N; m += L) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(L, N - m));
    const VF p = LoadPart(d, prow + m, n), dp = LoadPart(d, row + m, n);
    hn::StoreU(hn::Mul(vs, hn::Mul(p, hn::Sub(dp, dot))), d, row + m);
  }
  float* dR = row + N;
  std::fill(dR, dR + g.rel_rows, 0.f);
  std::fill(colsum, colsum + RoundUp(g.W, L), 0.f);
  for (int x2 = 0; x2 < g.H; ++x2) {
    const float* sr = row + x2 * g.W;
    auto rs = hn::Zero(d);
    for (int64_t y2 = 0; y2 < g.W; y2 += L) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(L, g.W - y2));
      // Lanes past this map row belong to the next one (or to dR): masked out of both sums.
      const VF v = hn::IfThenElseZero(hn::FirstN(d, n), hn::LoadU(d, sr + y2));
      rs = hn::Add(rs, v);
      hn::Store(hn::Add(hn::Load(d, colsum + y2), v), d, colsum + y2);
    }
    dR[x2 - x + g.H - 1] = hn::GetLane(hn::SumOfLanes(d, rs));
  }
  std::memcpy(dR + g.Rh + (g.W - 1 - y), colsum, g.W * sizeof(float));
}

// ---- per-thread scratch ---------------------------------------------------------------------

// One thread's scratch, kept between calls (thread_local): a fresh megabyte per call costs
// page faults that a 7x7 map notices. All buffers are aligned and carry one vector of slack,
// so GEMMs and row kernels may read whole vectors.
struct Workspace {
  float* kt;      // [d, ld_kt]  forward: [K^T | rel^T]; backward: V^T
  float* band;    // [queries, ld_band]  logits / P, or dP / s dS (+ s dR), of one block
  float* pband;   // [queries, ld_band]  local: P scattered into the band
  float* R;       // [N, ld_rel]  local: relative logits, or their gradient
  float* slot;    // [ld_slot]  local: one query's window
  float* colsum;  // [W]  global backward: sums down the key columns
  float* pq;      // [N, d_padded]  packed q rows
  float* pk;      // [N + band_rel_cols, d_padded]  packed k rows (backward); global: rel rows after
  float* pv;      // [N, d_padded]  packed v rows (forward) or dout rows (backward)

  Workspace(const Geometry& g, bool backward) {
    const int64_t sizes[9] = {
        g.d_padded * g.ld_kt,
        int64_t(g.max_block_queries) * g.ld_band,
        g.K ? int64_t(g.max_block_queries) * g.ld_band : 0,
        g.K ? int64_t(g.N) * g.ld_rel : 0,
        g.K ? g.ld_slot : 0,
        RoundUp(g.W, g.lanes),
        int64_t(g.N) * g.d_padded,
        backward ? int64_t(g.N + g.band_rel_cols) * g.d_padded : 0,
        int64_t(g.N) * g.d_padded,
    };
    int64_t total = 0;
    for (int64_t s : sizes) total += s + g.lanes;  // + L: slack, and keeps every buffer aligned
    thread_local hwy::AlignedFreeUniquePtr<float[]> mem;
    thread_local int64_t capacity = 0;
    if (capacity < total) {
      mem = hwy::AllocateAligned<float>(total);
      capacity = total;
    }
    float* p = mem.get();
    float** slots[9] = {&kt, &band, &pband, &R, &slot, &colsum, &pq, &pk, &pv};
    for (int i = 0; i < 9; ++i) {
      *slots[i] = p;
      p += sizes[i] + g.lanes;
    }
  }
};

// ---- forward --------------------------------------------------------------------------------

// Local forward of one query row: gather the window from the band, softmax, scatter P back.
void LocalRowForward(const Geometry& g, const Geometry::Block& blk, int y,
                     const float* HWY_RESTRICT srow, const float* HWY_RESTRICT rrow,
                     float* HWY_RESTRICT slot, float* HWY_RESTRICT prow_band,
                     float* HWY_RESTRICT probs_row) {
  const int K = g.K, x = blk.x;
  // logit(i, j) = s * (S[x', y'] + R[i] + R[K + j]), key (x', y') = (x + i - r, y + j - r);
  // keys outside the map get -inf, hence exp() = 0: they take no probability.
  std::fill(slot, slot + g.keys, -INFINITY);
  for_each_window_key(g.H, g.W, K, x, y, [&](int i, int j, int x2, int y2) {
    slot[i * K + j] = g.scale * (srow[(x2 - blk.key_row0) * g.W + y2] + rrow[i] + rrow[K + j]);
  });
  SoftmaxRow(slot, slot, g.keys);
  if (probs_row) std::memcpy(probs_row, slot, g.keys * sizeof(float));
  std::fill(prow_band, prow_band + blk.visible_keys, 0.f);
  for_each_window_key(g.H, g.W, K, x, y, [&](int i, int j, int x2, int y2) {
    prow_band[(x2 - blk.key_row0) * g.W + y2] = slot[i * K + j];
  });
}

// relT: [d, ld_rel] the tables transposed, shared by all heads.
void ForwardHead(const Geometry& g, int b, int h, const float* q, const float* k, const float* v,
                 const float* relT, float* out, float* probs, Workspace& ws) {
  const int N = g.N, d = g.d;
  const float* qh = q + int64_t(b) * N * g.ld_qkv + h * d;  // q row n at qh + n * ld
  const float* kh = k + int64_t(b) * N * g.ld_qkv + h * d;
  const float* vh = v + int64_t(b) * N * g.ld_qkv + h * d;
  float* oh = out + int64_t(b) * N * g.ld_out + h * d;
  float* ph = probs ? probs + (int64_t(b) * g.heads + h) * N * g.keys : nullptr;

  // K^T with the tables' columns after the keys (global); keys contiguous for vector loads.
  PackTransposed(kh, g.ld_qkv, N, d, ws.kt, g.ld_kt);
  PackRows(qh, g.ld_qkv, N, d, ws.pq, g.d_padded);  // the A operand too: dense rows load faster
  PackRows(vh, g.ld_qkv, N, d, ws.pv, g.d_padded);
  if (g.K)  // local: R = Q [rel_h; rel_w]^T apart from the band
    Gemm<false>(N, g.rel_rows, d, ws.pq, g.d_padded, relT, g.ld_rel, ws.R, g.ld_rel, false);

  for (int bi = 0; bi < g.num_blocks(); ++bi) {
    const Geometry::Block blk = g.block(bi);
    // [S | R] = Q [K^T | rel^T] over the block's queries and visible keys.
    Gemm<false>(blk.queries, blk.visible_keys + g.band_rel_cols, d, ws.pq + blk.query0 * g.d_padded,
                g.d_padded, ws.kt + blk.key0, g.ld_kt, ws.band, g.ld_band, false);
    const float* pa = ws.band;  // P as the A operand of out = P V
    const int64_t lda = g.ld_band;
    if (!g.K) {
      for (int n = 0; n < N; ++n)
        GlobalRowForward(g, n / g.W, n % g.W, ws.band + n * g.ld_band,
                         ph ? ph + int64_t(n) * N : nullptr);
    } else {
      pa = ws.pband;
      for (int t = 0; t < blk.queries; ++t) {
        const int n = blk.query0 + t;
        LocalRowForward(g, blk, n % g.W, ws.band + t * g.ld_band, ws.R + n * g.ld_rel, ws.slot,
                        ws.pband + t * g.ld_band, ph ? ph + int64_t(n) * g.keys : nullptr);
      }
    }
    // out = P V
    Gemm<false>(blk.queries, d, blk.visible_keys, pa, lda, ws.pv + blk.key0 * g.d_padded,
                g.d_padded, oh + blk.query0 * g.ld_out, g.ld_out, false);
  }
}

// ---- backward -------------------------------------------------------------------------------

// Local backward of one query row: gather dP over the window, form s dS, scatter it (and P)
// into the band, and sum it into the rel-table rows it came from (the gather's adjoint).
void LocalRowBackward(const Geometry& g, const Geometry::Block& blk, int y,
                      const float* HWY_RESTRICT prow, float* HWY_RESTRICT dband_row,
                      float* HWY_RESTRICT pband_row, float* HWY_RESTRICT drow,
                      float* HWY_RESTRICT slot) {
  const int K = g.K, x = blk.x;
  float* dp = slot;  // dP over the window; 0 where masked (P is 0 there too)
  std::fill(dp, dp + g.keys, 0.f);
  for_each_window_key(g.H, g.W, K, x, y, [&](int i, int j, int x2, int y2) {
    dp[i * K + j] = dband_row[(x2 - blk.key_row0) * g.W + y2];
  });
  float dot = 0;
  for (int m = 0; m < g.keys; ++m) dot += prow[m] * dp[m];
  std::fill(dband_row, dband_row + blk.visible_keys, 0.f);
  std::fill(pband_row, pband_row + blk.visible_keys, 0.f);
  std::fill(drow, drow + g.rel_rows, 0.f);
  for_each_window_key(g.H, g.W, K, x, y, [&](int i, int j, int x2, int y2) {
    const float p = prow[i * K + j];
    const float ds = g.scale * p * (dp[i * K + j] - dot);  // s * dlogit
    dband_row[(x2 - blk.key_row0) * g.W + y2] = ds;
    pband_row[(x2 - blk.key_row0) * g.W + y2] = p;
    drow[i] += ds;      // logit(i, j) read rel_h row i ...
    drow[K + j] += ds;  // ... and rel_w row j
  });
}

// relp: [rel_rows, d_padded] the tables' rows, zero-padded (local: the B operand of dq += dR rel;
// global: already copied after the k rows in ws.pk).
void BackwardHead(const Geometry& g, int b, int h, const float* q, const float* k, const float* v,
                  const float* relp, const float* probs, const float* dout, float* dq, float* dk,
                  float* dv, float* drel, Workspace& ws) {
  const int N = g.N, d = g.d;
  const int64_t base = int64_t(b) * N * g.ld_qkv + h * d;
  const float* qh = q + base;
  const float* kh = k + base;
  const float* vh = v + base;
  const float* gh = dout + int64_t(b) * N * g.ld_out + h * d;
  const float* ph = probs + (int64_t(b) * g.heads + h) * N * g.keys;
  float* dqh = dq ? dq + base : nullptr;
  float* dkh = dk ? dk + base : nullptr;
  float* dvh = dv ? dv + base : nullptr;
  const bool need_ds = dq || dk || drel;  // only dv can do without the logit gradient

  if (need_ds) PackTransposed(vh, g.ld_qkv, N, d, ws.kt, g.ld_kt);  // V^T, for dP = dout V^T
  if (dk || drel) PackRows(qh, g.ld_qkv, N, d, ws.pq, g.d_padded);
  if (dq) PackRows(kh, g.ld_qkv, N, d, ws.pk, g.d_padded);
  if (need_ds || dv) PackRows(gh, g.ld_out, N, d, ws.pv, g.d_padded);
  // Local blocks overlap in keys, so dk and dv add up over blocks: start them at zero.
  if (g.K) {
    for (int n = 0; n < N; ++n) {
      if (dkh) std::fill(dkh + n * g.ld_qkv, dkh + n * g.ld_qkv + d, 0.f);
      if (dvh) std::fill(dvh + n * g.ld_qkv, dvh + n * g.ld_qkv + d, 0.f);
    }
  }
  for (int bi = 0; bi < g.num_blocks(); ++bi) {
    const Geometry::Block blk = g.block(bi);
    const bool acc = g.K != 0;
    if (need_ds) {
      // dP = dout V^T  (out = P V)
      Gemm<false>(blk.queries, blk.visible_keys, d, ws.pv + blk.query0 * g.d_padded, g.d_padded,
                  ws.kt + blk.key0, g.ld_kt, ws.band, g.ld_band, false);
      for (int t = 0; t < blk.queries; ++t) {
        const int n = blk.query0 + t;
        float* row = ws.band + t * g.ld_band;
        if (!g.K)
          GlobalRowBackward(g, n / g.W, n % g.W, ph + int64_t(n) * N, row, ws.colsum);
        else
          LocalRowBackward(g, blk, n % g.W, ph + int64_t(n) * g.keys, row, ws.pband + t * g.ld_band,
                           ws.R + n * g.ld_rel, ws.slot);
      }
    } else if (g.K) {
      for (int t = 0; t < blk.queries; ++t) {  // dv alone still needs P in band form
        const int n = blk.query0 + t;
        float* pb = ws.pband + t * g.ld_band;
        std::fill(pb, pb + blk.visible_keys, 0.f);
        for_each_window_key(g.H, g.W, g.K, blk.x, n % g.W, [&](int i, int j, int x2, int y2) {
          pb[(x2 - blk.key_row0) * g.W + y2] = ph[int64_t(n) * g.keys + i * g.K + j];
        });
      }
    }
    // The band now holds s dS (global: then s dR). logit = s q.(k + rel_h + rel_w), so
    //   dq = s dS K + s dR rel,   dk = (s dS)^T q,   drel = (s dR)^T q.
    if (dqh) {
      // Global: one GEMM over [dS | dR] and [K; rel]. Local: dR is per query, apart.
      Gemm<false>(blk.queries, d, blk.visible_keys + g.band_rel_cols, ws.band, g.ld_band,
                  ws.pk + blk.key0 * g.d_padded, g.d_padded, dqh + blk.query0 * g.ld_qkv, g.ld_qkv,
                  false);
      if (g.K)
        Gemm<false>(blk.queries, d, g.rel_rows, ws.R + blk.query0 * g.ld_rel, g.ld_rel, relp,
                    g.d_padded, dqh + blk.query0 * g.ld_qkv, g.ld_qkv, true);
    }
    if (dkh)
      Gemm<true>(blk.visible_keys, d, blk.queries, ws.band, g.ld_band,
                 ws.pq + blk.query0 * g.d_padded, g.d_padded, dkh + blk.key0 * g.ld_qkv, g.ld_qkv,
                 acc);
    if (dvh) {
      // dv = P^T dout  (out = P V). Global P is the saved probs itself.
      const float* pa = g.K ? ws.pband : ph;
      const int64_t lda = g.K ? g.ld_band : N;
      Gemm<true>(blk.visible_keys, d, blk.queries, pa, lda, ws.pv + blk.query0 * g.d_padded,
                 g.d_padded, dvh + blk.key0 * g.ld_qkv, g.ld_qkv, acc);
    }
  }
  // drel (this head's share, [rel_rows, d_padded]) = (s dR)^T q over all queries of the head.
  if (drel) {
    if (g.K)
      Gemm<true>(g.rel_rows, d, N, ws.R, g.ld_rel, ws.pq, g.d_padded, drel, g.d_padded, false);
    else
      Gemm<true>(g.rel_rows, d, N, ws.band + N, g.ld_band, ws.pq, g.d_padded, drel, g.d_padded,
                 false);
  }
}

// ---- entry points ---------------------------------------------------------------------------

void AttentionForwardImpl(const AttentionDims& dims, const float* q, const float* k, const float* v,
                          const float* rel_h, const float* rel_w, float* out, float* probs) {
  const Geometry g(dims);
  // [rel_h; rel_w]^T: [d, ld_rel] (rel_rows columns, then zeros), shared by every head.
  std::vector<float> relT(int64_t(g.d) * g.ld_rel, 0.f);
  for (int i = 0; i < g.rel_rows; ++i) {
    const float* src = i < g.Rh ? rel_h + int64_t(i) * g.d : rel_w + int64_t(i - g.Rh) * g.d;
    for (int c = 0; c < g.d; ++c) relT[c * g.ld_rel + i] = src[c];
  }
  const int BH = g.B * g.heads;
#pragma omp parallel if (BH > 1 && !omp_in_parallel())
  {
    Workspace ws(g, false);
    // Columns N.. of [K^T | rel^T]: the tables, then zeros; the same for every head.
    for (int c = 0; c < g.d; ++c) {
      float* row = ws.kt + c * g.ld_kt;
      std::memcpy(row + g.N, relT.data() + c * g.ld_rel, g.band_rel_cols * sizeof(float));
      std::fill(row + g.N + g.band_rel_cols, row + g.ld_kt, 0.f);
    }
    // Dynamic: on a shared machine a thread may lose its core for a while, and the other can
    // take over the remaining heads; each head's result does not depend on who computes it.
#pragma omp for schedule(dynamic, 1)
    for (int bh = 0; bh < BH; ++bh)
      ForwardHead(g, bh / g.heads, bh % g.heads, q, k, v, relT.data(), out, probs, ws);
  }
}

void AttentionBackwardImpl(const AttentionDims& dims, const float* q, const float* k,
                           const float* v, const float* rel_h, const float* rel_w,
                           const float* probs, const float* dout, float* dq, float* dk, float* dv,
                           float* drel_h, float* drel_w) {
  const Geometry g(dims);
  // [rel_h; rel_w] rows padded to d_padded: the B operand of dq += dR rel.
  std::vector<float> relp(int64_t(g.rel_rows) * g.d_padded, 0.f);
  for (int i = 0; i < g.rel_rows; ++i) {
    const float* src = i < g.Rh ? rel_h + int64_t(i) * g.d : rel_w + int64_t(i - g.Rh) * g.d;
    std::memcpy(relp.data() + i * g.d_padded, src, g.d * sizeof(float));
  }
  const bool want_drel = drel_h || drel_w;
  const int BH = g.B * g.heads;
  // The tables are shared by all (batch, head) pairs: each pair writes its own share, and the
  // shares are added in (batch, head) order afterwards. The result is then the same bits for
  // any thread count and any schedule, and threads may take heads dynamically.
  const int64_t share = int64_t(g.rel_rows) * g.d_padded;
  hwy::AlignedFreeUniquePtr<float[]> shares;
  if (want_drel) shares = hwy::AllocateAligned<float>(BH * share);
#pragma omp parallel if (BH > 1 && !omp_in_parallel())
  {
    Workspace ws(g, true);
    // Global: the table rows follow the k rows, the same for every head.
    if (g.band_rel_cols)
      std::memcpy(ws.pk + int64_t(g.N) * g.d_padded, relp.data(), relp.size() * sizeof(float));
    // V^T's columns past N are read (whole vectors) but must be finite: zero them once.
    for (int c = 0; c < g.d; ++c)
      std::fill(ws.kt + c * g.ld_kt + g.N, ws.kt + (c + 1) * g.ld_kt, 0.f);
#pragma omp for schedule(dynamic, 1)
    for (int bh = 0; bh < BH; ++bh)
      BackwardHead(g, bh / g.heads, bh % g.heads, q, k, v, relp.data(), probs, dout, dq, dk, dv,
                   want_drel ? shares.get() + bh * share : nullptr, ws);
  }
  if (!want_drel) return;
  for (int i = 0; i < g.rel_rows; ++i) {
    float* dst = i < g.Rh ? drel_h + int64_t(i) * g.d : drel_w + int64_t(i - g.Rh) * g.d;
    if ((i < g.Rh && !drel_h) || (i >= g.Rh && !drel_w)) continue;
    for (int c = 0; c < g.d; ++c) {
      float s = 0;
      for (int bh = 0; bh < BH; ++bh) s += shares[bh * share + i * g.d_padded + c];
      dst[c] = s;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops {

void check_attention_dims(const AttentionDims& dims) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(
        "attention: " + why + " (batch " + std::to_string(dims.batch) + ", map " +
        std::to_string(dims.height) + "x" + std::to_string(dims.width) + ", heads " +
        std::to_string(dims.heads) + ", head_dim " + std::to_string(dims.head_dim) + ", window " +
        std::to_string(dims.window) + ", ld " + std::to_string(dims.ld) + ", ld_out " +
        std::to_string(dims.ld_out) + ")");
  };
  if (dims.batch <= 0 || dims.height <= 0 || dims.width <= 0)
    fail("batch, height and width must be positive");
  if (dims.heads <= 0 || dims.head_dim <= 0) fail("heads and head_dim must be positive");
  if (dims.window < 0 || (dims.window > 0 && dims.window % 2 == 0))
    fail("window must be 0 (global) or a positive odd size");
  if (dims.ld != 0 && dims.ld < dims.channels()) fail("ld is smaller than the channels");
  if (dims.ld_out != 0 && dims.ld_out < dims.channels())
    fail("ld_out is smaller than the channels");
}

HWY_EXPORT(AttentionForwardImpl);
HWY_EXPORT(AttentionBackwardImpl);

void attention_forward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                       const float* rel_h, const float* rel_w, float* out, float* probs) {
  check_attention_dims(dims);
  HWY_DYNAMIC_DISPATCH(AttentionForwardImpl)(dims, q, k, v, rel_h, rel_w, out, probs);
}

void attention_backward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                        const float* rel_h, const float* rel_w, const float* probs,
                        const float* dout, float* dq, float* dk, float* dv, float* drel_h,
                        float* drel_w) {
  check_attention_dims(dims);
  if (!probs || !dout)
    throw std::invalid_argument("attention_backward: probs and dout are required");
  HWY_DYNAMIC_DISPATCH(AttentionBackwardImpl)
  (dims, q, k, v, rel_h, rel_w, probs, dout, dq, dk, dv, drel_h, drel_w);
}

}  // namespace hsanet::ops
#endif  // HWY_ONCE
