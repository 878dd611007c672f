// CUDA kernels of the attention core (ops/attention.h; the maths is in docs/cuda.md). Host code
// that strings them together: attention_plan.cuh.
//
// Five kernels, each simple enough to read at once:
//   gemm_kernel            batched C = alpha A B (+ beta C) over strided views: every product of
//                          the global form (q k^T, P v, dO v^T, dS k, dS^T q, P^T dO) and the
//                          relative-position products of both forms
//   softmax_rel_kernel     adds the relative logits to a row of q.k logits, then a stable softmax
//   softmax_rel_backward_kernel   dS = P * (dP - rowsum(P * dP)), and dS summed per rel_h / rel_w row
//   local_*_kernel         the three products of the local K x K form, one thread per output
//   sum_partials_kernel    the relative tables' gradients, summed over (batch, head) in order
// No atomics anywhere: every output element is written by exactly one thread, and every sum runs
// in a fixed order, so results are bitwise reproducible run to run.
//
// These sources also compile as plain C++ against the CPU emulation (cuda_compat.cuh), which is
// why they use no warp intrinsics: block reductions go through shared memory.
#pragma once

#include <cstdint>

#include "ops/cuda/cuda_compat.cuh"

namespace hsanet::ops::HSANET_CUDA_NS {

// One attention call's geometry (AttentionDims without the strides).
struct AttnGeo {
  int batch, heads, height, width, d;
  int window;  // 0: global; K: local K x K
  int n;       // positions H * W
  int m;       // keys per query: N, or K * K
  int rh, rw;  // rows of rel_h, rel_w
};

// Slot m of query (x, y): the key position it reads and the rel_h / rel_w rows it adds.
// Global: key m = (x', y'), rows x' - x + H - 1 and y' - y + W - 1. Local: slot (i, j) is the key
// (x + i - r, y + j - r), rows i and j; invalid when that key lies off the map.
struct KeySlot {
  int key, row_h, row_w;
  bool valid;
};

__device__ __forceinline__ KeySlot key_slot(const AttnGeo& g, int x, int y, int m) {
  KeySlot s;
  if (g.window == 0) {
    const int x2 = m / g.width, y2 = m % g.width;
    s.key = m;
    s.row_h = x2 - x + g.height - 1;
    s.row_w = y2 - y + g.width - 1;
    s.valid = true;
    return s;
  }
  const int r = (g.window - 1) / 2, i = m / g.window, j = m % g.window;
  const int x2 = x + i - r, y2 = y + j - r;
  s.valid = x2 >= 0 && x2 < g.height && y2 >= 0 && y2 < g.width;
  s.key = s.valid ? x2 * g.width + y2 : 0;
  s.row_h = i;
  s.row_w = j;
  return s;
}

// ---- batched strided matrix product ----------------------------------------------------------
// Element (i, j) of matrix z = b * heads + h lives at p + b*sb + h*sb_head + i*rs + j*cs. Views
// with a transposed or head-sliced layout (k^T read from [B, N, ld] rows, say) are just strides.
struct MatIn {
  const float* p;
  int64_t rs, cs;  // row and column strides
  int64_t sb, sh;  // batch and head strides
};
struct MatOut {
  float* p;
  int64_t rs;      // row stride (columns are contiguous)
  int64_t sb, sh;
};
struct Gemm {
  int m, n, k;      // C: [m, n] = A: [m, k] x B: [k, n], per (batch, head)
  int heads;        // splits blockIdx.z into (batch, head)
  float alpha, beta;  // C = alpha A B + beta C; beta == 0 never reads C
  MatIn a, b;
  MatOut c;
};

// A 64 x 64 tile of C per block of 256 threads, each thread a 4 x 4 block of it, k in steps of 16
// through shared memory. Thread (tx, ty) owns rows ty + 16 ii and columns tx + 16 jj: in the inner
// loop a half-warp then reads one broadcast A value and 16 consecutive B values (no bank
// conflicts), and stores to C are consecutive in j.
constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kGemmThreads = 256;

static __global__ void __launch_bounds__(kGemmThreads) gemm_kernel(Gemm g) {
  // a: [kTileK, kTileM] (A's tile, transposed), b: [kTileK, kTileN]; +1 column against conflicts
  // on the transposing stores.
  __shared__ float as[kTileK][kTileM + 1];
  __shared__ float bs[kTileK][kTileN + 1];
  const int z = blockIdx.z, bi = z / g.heads, hi = z % g.heads;
  const float* A = g.a.p + bi * g.a.sb + hi * g.a.sh;
  const float* B = g.b.p + bi * g.b.sb + hi * g.b.sh;
  const int row0 = blockIdx.y * kTileM, col0 = blockIdx.x * kTileN;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  // Walk the contiguous dimension of each operand with consecutive threads (coalesced loads).
  const bool a_k_contiguous = g.a.cs == 1, b_n_contiguous = g.b.cs == 1;
  float acc[4][4];
  for (int ii = 0; ii < 4; ++ii)
    for (int jj = 0; jj < 4; ++jj) acc[ii][jj] = 0.f;

  for (int k0 = 0; k0 < g.k; k0 += kTileK) {
    for (int e = tid; e < kTileM * kTileK; e += kGemmThreads) {
      int i, kk;
      if (a_k_contiguous) {
        kk = e % kTileK;
        i = e / kTileK;
      } else {
        i = e % kTileM;
        kk = e / kTileM;
      }
      const int gi = row0 + i, gk = k0 + kk;
      as[kk][i] = (gi < g.m && gk < g.k) ? A[gi * g.a.rs + gk * g.a.cs] : 0.f;
    }
    for (int e = tid; e < kTileK * kTileN; e += kGemmThreads) {
      int kk, j;
      if (b_n_contiguous) {
        j = e % kTileN;
        kk = e / kTileN;
      } else {
        kk = e % kTileK;
        j = e / kTileK;
      }
      const int gk = k0 + kk, gj = col0 + j;
      bs[kk][j] = (gk < g.k && gj < g.n) ? B[gk * g.b.rs + gj * g.b.cs] : 0.f;
    }
    __syncthreads();  // tiles complete before anyone multiplies
    HSANET_UNROLL
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
      for (int ii = 0; ii < 4; ++ii) a[ii] = as[kk][ty + 16 * ii];
      for (int jj = 0; jj < 4; ++jj) b[jj] = bs[kk][tx + 16 * jj];
      for (int ii = 0; ii < 4; ++ii)
        for (int jj = 0; jj < 4; ++jj) acc[ii][jj] = fmaf(a[ii], b[jj], acc[ii][jj]);
    }
    __syncthreads();  // everyone done with the tiles before the next loads overwrite them
  }

  float* C = g.c.p + bi * g.c.sb + hi * g.c.sh;
  for (int ii = 0; ii < 4; ++ii)
    for (int jj = 0; jj < 4; ++jj) {
      const int gi = row0 + ty + 16 * ii, gj = col0 + tx + 16 * jj;
      if (gi >= g.m || gj >= g.n) continue;
      float* c = C + gi * g.c.rs + gj;
      *c = g.beta == 0.f ? g.alpha * acc[ii][jj] : g.alpha * acc[ii][jj] + g.beta * *c;
    }
}

// ---- softmax with relative logits, and its backward ------------------------------------------
constexpr int kRowThreads = 128;  // one block per row of logits; a power of two (tree reductions)

// Sum / max over the block through shared memory red[blockDim.x], in a fixed tree order.
__device__ __forceinline__ float block_sum(float v, float* red) {
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (t < s) red[t] += red[t + s];
    __syncthreads();
  }
  const float r = red[0];
  __syncthreads();  // red is free again for the caller's next reduction
  return r;
}

__device__ __forceinline__ float block_max(float v, float* red) {
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (t < s) red[t] = fmaxf(red[t], red[t + s]);
    __syncthreads();
  }
  const float r = red[0];
  __syncthreads();
  return r;
}

// s:   [Z, N, M] in: s q.k logits (global) or anything (local slots off the map); out: P
// rel: [Z, N, rh + rw]  (s q_n) . rel_h[t] for t < rh, (s q_n) . rel_w[t - rh] after
// logit[m] = s[m] + rel[row_h(m)] + rel[rh + row_w(m)]  (-inf off the map: probability 0)
// P = exp(logit - max) / sum: the max keeps exp from overflowing; a row always has a valid key
// (the query itself), so max is finite.
static __global__ void __launch_bounds__(kRowThreads)
    softmax_rel_kernel(AttnGeo g, float* s, const float* rel) {
  __shared__ float red[kRowThreads];
  const int64_t row = blockIdx.x;  // (b * heads + h) * N + n
  const int n = int(row % g.n), x = n / g.width, y = n % g.width;
  float* sr = s + row * g.m;
  const float* rr = rel + row * (g.rh + g.rw);
  // Each thread rereads only the elements it wrote itself: no barrier needed between passes.
  float mx = -INFINITY;
  for (int m = threadIdx.x; m < g.m; m += kRowThreads) {
    const KeySlot ks = key_slot(g, x, y, m);
    const float l = ks.valid ? sr[m] + rr[ks.row_h] + rr[g.rh + ks.row_w] : -INFINITY;
    sr[m] = l;
    mx = fmaxf(mx, l);
  }
  mx = block_max(mx, red);
  float sum = 0.f;
  for (int m = threadIdx.x; m < g.m; m += kRowThreads) {
    const float e = expf(sr[m] - mx);
    sr[m] = e;
    sum += e;
  }
  const float inv = 1.f / block_sum(sum, red);
  for (int m = threadIdx.x; m < g.m; m += kRowThreads) sr[m] *= inv;
}

// p:    [Z, N, M] the forward's P
// ds:   [Z, N, M] in: dP = dO . v_key (0 off the map); out: dS, the logits' gradient
// grel: [Z, N, rh + rw] out: sum of dS over the slots that add rel_h row t (t < rh) or rel_w row
//       t - rh: the relative tables enter every logit of those slots, so their gradient is that sum
// Forward: P = softmax(logit)  =>  dS = P * (dP - sum_m P[m] dP[m]).
static __global__ void __launch_bounds__(kRowThreads)
    softmax_rel_backward_kernel(AttnGeo g, const float* p, float* ds, float* grel) {
  __shared__ float red[kRowThreads];
  const int64_t row = blockIdx.x;
  const int n = int(row % g.n), x = n / g.width, y = n % g.width;
  const float* pr = p + row * g.m;
  float* dr = ds + row * g.m;
  float acc = 0.f;
  for (int m = threadIdx.x; m < g.m; m += kRowThreads) acc += pr[m] * dr[m];
  const float dot = block_sum(acc, red);
  for (int m = threadIdx.x; m < g.m; m += kRowThreads) dr[m] = pr[m] * (dr[m] - dot);
  __syncthreads();  // the row sums below read dS written by other threads

  // Keys form a grid: H x W (global) or K x K window slots (local). rel_h row t is added by one
  // row of that grid, rel_w row t by one column.
  const int rr = g.rh + g.rw;
  float* gr = grel + row * rr;
  for (int t = threadIdx.x; t < rr; t += kRowThreads) {
    float sum = 0.f;
    if (g.window == 0) {
      if (t < g.rh) {
        const int kx = t + x - (g.height - 1);  // row_h = x' - x + H - 1
        if (kx >= 0 && kx < g.height)
          for (int ky = 0; ky < g.width; ++ky) sum += dr[kx * g.width + ky];
      } else {
        const int ky = t - g.rh + y - (g.width - 1);  // row_w = y' - y + W - 1
        if (ky >= 0 && ky < g.width)
          for (int kx = 0; kx < g.height; ++kx) sum += dr[kx * g.width + ky];
      }
    } else {
      const int K = g.window;  // slots off the map hold dS = 0 (P = 0 there)
      if (t < g.rh) {
        for (int j = 0; j < K; ++j) sum += dr[t * K + j];
      } else {
        for (int i = 0; i < K; ++i) sum += dr[i * K + (t - g.rh)];
      }
    }
    gr[t] = sum;
  }
}

// ---- the local K x K form: one thread per output element -------------------------------------
// Index helpers: z = b * heads + h; rows of q/k/v-like operands are [B, N, ld] with head h at
// channel offset h * d.

// s[z, n, m] = alpha * a_n . b_key(n, m) over the head's d channels; 0 for slots off the map.
// Logits (a = q, b = k, alpha = 1/sqrt(d)) and dP (a = dO, b = v, alpha = 1).
static __global__ void local_dot_kernel(AttnGeo g, const float* a, int64_t lda, const float* b,
                                        int64_t ldb, float alpha, float* s) {
  const int64_t total = int64_t(g.batch) * g.heads * g.n * g.m;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int m = int(idx % g.m);
    const int n = int(idx / g.m % g.n);
    const int64_t z = idx / g.m / g.n;
    const int64_t bb = z / g.heads;
    const int h = int(z % g.heads);
    const KeySlot ks = key_slot(g, n / g.width, n % g.width, m);
    float acc = 0.f;
    if (ks.valid) {
      const float* an = a + (bb * g.n + n) * lda + h * g.d;
      const float* bk = b + (bb * g.n + ks.key) * ldb + h * g.d;
      for (int c = 0; c < g.d; ++c) acc = fmaf(an[c], bk[c], acc);
    }
    s[idx] = alpha * acc;
  }
}

// out[b, n, h*d + c] = alpha * sum_m w[z, n, m] * u[b, key(n, m), h*d + c]
// Forward output (w = P, u = v) and the content part of dq (w = dS, u = k, alpha = 1/sqrt(d)).
static __global__ void local_gather_kernel(AttnGeo g, const float* w, const float* u, int64_t ldu,
                                           float alpha, float* out, int64_t ldo) {
  const int64_t total = int64_t(g.batch) * g.heads * g.n * g.d;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(idx % g.d);
    const int n = int(idx / g.d % g.n);
    const int64_t z = idx / g.d / g.n;
    const int64_t bb = z / g.heads;
    const int h = int(z % g.heads);
    const float* wr = w + (z * g.n + n) * g.m;
    const int x = n / g.width, y = n % g.width;
    float acc = 0.f;
    for (int m = 0; m < g.m; ++m) {
      const KeySlot ks = key_slot(g, x, y, m);
      if (ks.valid) acc = fmaf(wr[m], u[(bb * g.n + ks.key) * ldu + h * g.d + c], acc);
    }
    out[(bb * g.n + n) * ldo + h * g.d + c] = alpha * acc;
  }
}

// out[b, p, h*d + c] = alpha * sum over the (n, m) with key(n, m) = p of w[z, n, m] * u[b, n, h*d + c]
// dv (w = P, u = dO) and dk (w = dS, u = q, alpha = 1/sqrt(d)). Key p = (px, py) is slot (i, j) of
// query (px - i + r, py - j + r): each key gathers from at most K*K queries, so no two threads
// ever add into the same output.
static __global__ void local_scatter_kernel(AttnGeo g, const float* w, const float* u, int64_t ldu,
                                            float alpha, float* out, int64_t ldo) {
  const int64_t total = int64_t(g.batch) * g.heads * g.n * g.d;
  const int K = g.window, r = (K - 1) / 2;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(idx % g.d);
    const int p = int(idx / g.d % g.n);
    const int64_t z = idx / g.d / g.n;
    const int64_t bb = z / g.heads;
    const int h = int(z % g.heads);
    const int px = p / g.width, py = p % g.width;
    float acc = 0.f;
    for (int i = 0; i < K; ++i) {
      const int x = px - i + r;
      if (x < 0 || x >= g.height) continue;
      for (int j = 0; j < K; ++j) {
        const int y = py - j + r;
        if (y < 0 || y >= g.width) continue;
        const int n = x * g.width + y;
        acc = fmaf(w[(z * g.n + n) * g.m + i * K + j], u[(bb * g.n + n) * ldu + h * g.d + c], acc);
      }
    }
    out[(bb * g.n + p) * ldo + h * g.d + c] = alpha * acc;
  }
}

// ---- relative tables' gradients --------------------------------------------------------------
// partial: [Z, rh + rw, d], one slice per (batch, head); drel_h: [rh, d], drel_w: [rw, d] (either
// may be null). Summing the slices in z order here, rather than with atomics in the product, keeps
// the result independent of scheduling.
static __global__ void sum_partials_kernel(const float* partial, int z_count, int rh, int rw, int d,
                                           float* drel_h, float* drel_w) {
  const int64_t slice = int64_t(rh + rw) * d;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < slice;
       idx += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.f;
    for (int z = 0; z < z_count; ++z) acc += partial[z * slice + idx];
    if (idx < int64_t(rh) * d) {
      if (drel_h) drel_h[idx] = acc;
    } else if (drel_w) {
      drel_w[idx - int64_t(rh) * d] = acc;
    }
  }
}

}  // namespace hsanet::ops::HSANET_CUDA_NS
