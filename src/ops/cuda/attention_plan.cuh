// The attention core on the device: which kernels run, in which order, over which views of the
// caller's buffers (kernels: attention_kernels.cuh; maths: docs/cuda.md). All pointers are device
// pointers; everything is queued on `stream` and returns before the kernels finish.
//
// Forward                                        Backward (each step only when its output is asked)
//   R   = s Q [rel_h; rel_w]^T      (gemm)         dV  = P^T dO                     (gemm | local)
//   S   = s Q K^T                   (gemm | local) dP  = dO V^T                     (gemm | local)
//   P   = softmax(S + R gathered)   (softmax_rel)  dS, G = softmax_rel_backward(P, dP)
//   out = P V                       (gemm | local) dQ  = s dS K + s G [rel_h; rel_w] (gemm | local, gemm)
//                                                  dK  = s dS^T Q                   (gemm | local)
//                                                  drel = sum over (b, h) of s G^T Q (gemm, sum)
// s = 1/sqrt(d). "gemm" for the global form, "local" for the K x K window form.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/attention.h"
#include "ops/cuda/attention_kernels.cuh"

namespace hsanet::ops::HSANET_CUDA_NS {

// Device scratch for one call, released in stream order (the kernels that use it have been
// queued before it, so they finish before the memory is reused).
class Scratch {
 public:
  Scratch(int64_t count, cudaStream_t stream) : stream_(stream) {
    if (count > 0) {
      void* p = nullptr;
      CUDA_CHECK(cudaMallocAsync(&p, size_t(count) * sizeof(float), stream));
      p_ = static_cast<float*>(p);
    }
  }
  ~Scratch() {
    if (p_) cudaFreeAsync(p_, stream_);  // nothing to do about a failure in a destructor
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* get() const { return p_; }

 private:
  float* p_ = nullptr;
  cudaStream_t stream_;
};

inline AttnGeo make_geo(const AttentionDims& dims) {
  AttnGeo g;
  g.batch = dims.batch;
  g.heads = dims.heads;
  g.height = dims.height;
  g.width = dims.width;
  g.d = dims.head_dim;
  g.window = dims.window;
  g.n = dims.positions();
  g.m = dims.keys();
  g.rh = dims.rel_rows_h();
  g.rw = dims.rel_rows_w();
  return g;
}

inline void launch_gemm(const Gemm& g, int batches, cudaStream_t stream) {
  const int64_t tiles_m = (int64_t(g.m) + kTileM - 1) / kTileM;
  const int64_t tiles_n = (int64_t(g.n) + kTileN - 1) / kTileN;
  if (batches > 65535 || tiles_m > 65535)
    throw std::invalid_argument("attention (cuda): batch * heads = " + std::to_string(batches) +
                                " or " + std::to_string(g.m) + " rows is beyond the grid limits");
  const dim3 grid{unsigned(tiles_n), unsigned(tiles_m), unsigned(batches)};
  HSANET_LAUNCH(gemm_kernel, grid, dim3(kGemmThreads), stream, g);
  CUDA_CHECK(cudaGetLastError());
}

// Blocks for a one-thread-per-element kernel over `total` elements (the kernels loop with a
// grid stride, so the cap only limits parallelism, never coverage).
inline dim3 elementwise_grid(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return dim3(unsigned(blocks < 1 ? 1 : (blocks > (1 << 20) ? (1 << 20) : blocks)));
}

inline void check_rows(int64_t rows) {
  if (rows > 2147483647)
    throw std::invalid_argument("attention (cuda): " + std::to_string(rows) +
                                " rows of logits is beyond the grid limit");
}

// Copies [rel_h; rel_w] into one [rh + rw, d] table, so each relative product is one gemm.
inline void concat_rel(const AttnGeo& g, const float* rel_h, const float* rel_w, float* relcat,
                       cudaStream_t stream) {
  const size_t bh = size_t(g.rh) * g.d * sizeof(float), bw = size_t(g.rw) * g.d * sizeof(float);
  CUDA_CHECK(cudaMemcpyAsync(relcat, rel_h, bh, cudaMemcpyDeviceToDevice, stream));
  CUDA_CHECK(cudaMemcpyAsync(relcat + size_t(g.rh) * g.d, rel_w, bw, cudaMemcpyDeviceToDevice,
                             stream));
}

// q, k, v: [B, N, ld]; rel_h: [rh, d]; rel_w: [rw, d]; out: [B, N, ld_out];
// probs: [B, heads, N, M] or null.
inline void run_forward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                        const float* rel_h, const float* rel_w, float* out, float* probs,
                        cudaStream_t stream) {
  check_attention_dims(dims);
  if (!q || !k || !v || !rel_h || !rel_w || !out)
    throw std::invalid_argument("attention_forward_cuda: q, k, v, rel_h, rel_w and out must not be null");
  const AttnGeo g = make_geo(dims);
  const int Z = g.batch * g.heads, N = g.n, M = g.m, d = g.d, RR = g.rh + g.rw;
  const int64_t ld = dims.qkv_stride();
  const int64_t ldo = dims.out_stride();
  const float scale = 1.f / std::sqrt(float(d));
  check_rows(int64_t(Z) * N);
  // Views shared by several products: Q/K/V rows of head h of image b, S/P rows of (b, h).
  const int64_t qb = int64_t(N) * ld, sb = int64_t(g.heads) * N * M, sh = int64_t(N) * M;
  const int64_t rb = int64_t(g.heads) * N * RR, rhs = int64_t(N) * RR;

  Scratch relcat(int64_t(RR) * d, stream);
  Scratch rel(int64_t(Z) * N * RR, stream);
  Scratch logits(probs ? 0 : int64_t(Z) * N * M, stream);
  float* s = probs ? probs : logits.get();
  concat_rel(g, rel_h, rel_w, relcat.get(), stream);

  // R[z, n, t] = (s q_n) . relcat[t]: [N, d] x [d, rh + rw]
  launch_gemm(Gemm{N, RR, d, g.heads, scale, 0.f, MatIn{q, ld, 1, qb, d},
                   MatIn{relcat.get(), 1, d, 0, 0}, MatOut{rel.get(), RR, rb, rhs}},
              Z, stream);
  // S[z, n, m] = (s q_n) . k_m
  if (g.window == 0) {
    launch_gemm(Gemm{N, N, d, g.heads, scale, 0.f, MatIn{q, ld, 1, qb, d},
                     MatIn{k, 1, ld, qb, d}, MatOut{s, M, sb, sh}},
                Z, stream);
  } else {
    const int64_t total = int64_t(Z) * N * M;
    HSANET_LAUNCH(local_dot_kernel, elementwise_grid(total, 256), dim3(256), stream, g, q, ld, k,
                  ld, scale, s);
    CUDA_CHECK(cudaGetLastError());
  }
  // P = softmax(S + R)
  HSANET_LAUNCH(softmax_rel_kernel, dim3(unsigned(int64_t(Z) * N)), dim3(kRowThreads), stream, g,
                s, static_cast<const float*>(rel.get()));
  CUDA_CHECK(cudaGetLastError());
  // out_n = sum_m P[n, m] v_key(n, m)
  if (g.window == 0) {
    launch_gemm(Gemm{N, d, N, g.heads, 1.f, 0.f, MatIn{s, M, 1, sb, sh}, MatIn{v, ld, 1, qb, d},
                     MatOut{out, ldo, int64_t(N) * ldo, d}},
                Z, stream);
  } else {
    const int64_t total = int64_t(Z) * N * d;
    HSANET_LAUNCH(local_gather_kernel, elementwise_grid(total, 256), dim3(256), stream, g,
                  static_cast<const float*>(s), v, ld, 1.f, out, ldo);
    CUDA_CHECK(cudaGetLastError());
  }
}

// Shapes as run_forward; probs is the forward's P (required); dout: [B, N, ld_out]; dq, dk, dv:
// [B, N, ld]; drel_h: [rh, d]; drel_w: [rw, d]. Null gradient pointers are skipped, and so is any
// work that only they need.
inline void run_backward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                         const float* rel_h, const float* rel_w, const float* probs,
                         const float* dout, float* dq, float* dk, float* dv, float* drel_h,
                         float* drel_w, cudaStream_t stream) {
  check_attention_dims(dims);
  if (!q || !k || !v || !rel_h || !rel_w || !probs || !dout)
    throw std::invalid_argument(
        "attention_backward_cuda: q, k, v, rel_h, rel_w, probs and dout must not be null");
  const AttnGeo g = make_geo(dims);
  const int Z = g.batch * g.heads, N = g.n, M = g.m, d = g.d, RR = g.rh + g.rw;
  const int64_t ld = dims.qkv_stride();
  const int64_t ldo = dims.out_stride();
  const float scale = 1.f / std::sqrt(float(d));
  check_rows(int64_t(Z) * N);
  const int64_t qb = int64_t(N) * ld, ob = int64_t(N) * ldo;
  const int64_t sb = int64_t(g.heads) * N * M, sh = int64_t(N) * M;
  const int64_t rb = int64_t(g.heads) * N * RR, rhs = int64_t(N) * RR;
  const int64_t qkv_total = int64_t(Z) * N * d;

  // dv_m = sum_n P[n, m] dout_n  (out_n = sum_m P[n, m] v_m)
  if (dv) {
    if (g.window == 0) {
      launch_gemm(Gemm{N, d, N, g.heads, 1.f, 0.f, MatIn{probs, 1, M, sb, sh},
                       MatIn{dout, ldo, 1, ob, d}, MatOut{dv, ld, qb, d}},
                  Z, stream);
    } else {
      HSANET_LAUNCH(local_scatter_kernel, elementwise_grid(qkv_total, 256), dim3(256), stream, g,
                    probs, dout, ldo, 1.f, dv, ld);
      CUDA_CHECK(cudaGetLastError());
    }
  }
  if (!dq && !dk && !drel_h && !drel_w) return;

  // dP[n, m] = dout_n . v_key(n, m), then dS and G in place of it.
  Scratch ds(int64_t(Z) * N * M, stream);
  Scratch grel(int64_t(Z) * N * RR, stream);
  if (g.window == 0) {
    launch_gemm(Gemm{N, M, d, g.heads, 1.f, 0.f, MatIn{dout, ldo, 1, ob, d},
                     MatIn{v, 1, ld, qb, d}, MatOut{ds.get(), M, sb, sh}},
                Z, stream);
  } else {
    HSANET_LAUNCH(local_dot_kernel, elementwise_grid(int64_t(Z) * N * M, 256), dim3(256), stream,
                  g, dout, ldo, v, ld, 1.f, ds.get());
    CUDA_CHECK(cudaGetLastError());
  }
  HSANET_LAUNCH(softmax_rel_backward_kernel, dim3(unsigned(int64_t(Z) * N)), dim3(kRowThreads),
                stream, g, probs, ds.get(), grel.get());
  CUDA_CHECK(cudaGetLastError());
  const float* dS = ds.get();
  const float* G = grel.get();

  // logit[n, m] = (s q_n) . (k_m + rel_h[row_h] + rel_w[row_w])
  //   => dq_n = s (sum_m dS[n, m] k_m + sum_t G[n, t] relcat[t])
  if (dq) {
    if (g.window == 0) {
      launch_gemm(Gemm{N, d, M, g.heads, scale, 0.f, MatIn{dS, M, 1, sb, sh},
                       MatIn{k, ld, 1, qb, d}, MatOut{dq, ld, qb, d}},
                  Z, stream);
    } else {
      HSANET_LAUNCH(local_gather_kernel, elementwise_grid(qkv_total, 256), dim3(256), stream, g,
                    dS, k, ld, scale, dq, ld);
      CUDA_CHECK(cudaGetLastError());
    }
    Scratch relcat(int64_t(RR) * d, stream);
    concat_rel(g, rel_h, rel_w, relcat.get(), stream);
    launch_gemm(Gemm{N, d, RR, g.heads, scale, 1.f, MatIn{G, RR, 1, rb, rhs},
                     MatIn{relcat.get(), d, 1, 0, 0}, MatOut{dq, ld, qb, d}},
                Z, stream);
  }
  //   => dk_m = s sum_n dS[n, m] q_n
  if (dk) {
    if (g.window == 0) {
      launch_gemm(Gemm{N, d, N, g.heads, scale, 0.f, MatIn{dS, 1, M, sb, sh},
                       MatIn{q, ld, 1, qb, d}, MatOut{dk, ld, qb, d}},
                  Z, stream);
    } else {
      HSANET_LAUNCH(local_scatter_kernel, elementwise_grid(qkv_total, 256), dim3(256), stream, g,
                    dS, q, ld, scale, dk, ld);
      CUDA_CHECK(cudaGetLastError());
    }
  }
  //   => drel[t] = s sum_(b, h, n) G[n, t] q_n: one [rh + rw, d] slice per (b, h), then their sum
  if (drel_h || drel_w) {
    Scratch partial(int64_t(Z) * RR * d, stream);
    launch_gemm(Gemm{RR, d, N, g.heads, scale, 0.f, MatIn{G, 1, RR, rb, rhs},
                     MatIn{q, ld, 1, qb, d},
                     MatOut{partial.get(), d, int64_t(g.heads) * RR * d, int64_t(RR) * d}},
                Z, stream);
    HSANET_LAUNCH(sum_partials_kernel, elementwise_grid(int64_t(RR) * d, 256), dim3(256), stream,
                  static_cast<const float*>(partial.get()), Z, g.rh, g.rw, d, drel_h, drel_w);
    CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace hsanet::ops::HSANET_CUDA_NS
