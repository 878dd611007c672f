// The CUDA attention backend against the scalar reference (ops/attention_ref.h, in double).
//
// Three groups:
//   AttentionCudaEmulated  the CUDA kernels and their launch plan compiled as plain C++ against
//                          the CPU emulation (ops/cuda/emulation.h). Runs everywhere, CI included:
//                          it checks every index, stride, barrier and launch shape of the kernels
//                          without a GPU (not their speed, nor the GPU's floating point).
//   AttentionCuda          the real device: the raw device-pointer API and the host wrappers.
//                          Skipped, with the reason, where no device can be used.
//   AttentionDevice        the device setting and its errors; runs everywhere.
// The reference's own gradient check (central differences) lives with the reference's tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/random.h"
#include "gradcheck.h"
#include "models/mhsa.h"
#include "models/resnet.h"
#include "ops/attention.h"
#include "ops/attention_device.h"
#include "ops/attention_ref.h"
#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/device_buffer.h"

// Last: the emulation defines the CUDA keywords (threadIdx, __shared__...) as macros.
#define HSANET_CUDA_EMULATION
#include "ops/cuda/attention_plan.cuh"

namespace hsanet {
namespace {

using ops::AttentionDims;
using testing::expect_close;

// Fills unused channels and guard zones: any kernel write there shows.
constexpr float kSentinel = 12345.f;

// One attention problem in the layout the engine uses: q, k, v as rows of stride ld (fused:
// one [B, N, ld >= 3C] buffer with q, k, v at channel offsets 0, C, 2C), out/dout rows of ld_out.
struct Problem {
  AttentionDims dims;
  bool fused = false;
  int64_t rows = 0, C = 0, ld = 0, ldo = 0;
  std::vector<float> q, k, v;  // fused: q holds all three
  std::vector<float> rel_h, rel_w, dout;

  const float* qp() const { return q.data(); }
  const float* kp() const { return fused ? q.data() + C : k.data(); }
  const float* vp() const { return fused ? q.data() + 2 * C : v.data(); }
};

std::vector<float> random_floats(size_t n, Rng& rng, float scale) {
  std::vector<float> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

Problem make_problem(AttentionDims dims, bool fused, uint64_t seed, float scale = 1.f) {
  Problem p;
  p.dims = dims;
  p.fused = fused;
  p.C = dims.channels();
  p.rows = int64_t(dims.batch) * dims.positions();
  p.ld = dims.qkv_stride();
  p.ldo = dims.out_stride();
  Rng rng(seed);
  // Channels past the used ones hold random values too: a kernel that reads them is caught.
  p.q = random_floats(size_t(p.rows * p.ld), rng, scale);
  if (!fused) {
    p.k = random_floats(size_t(p.rows * p.ld), rng, scale);
    p.v = random_floats(size_t(p.rows * p.ld), rng, scale);
  }
  const float table = scale / std::sqrt(float(dims.head_dim));  // the model's N(0, 1) d^-1/2
  p.rel_h = random_floats(size_t(dims.rel_rows_h()) * dims.head_dim, rng, table);
  p.rel_w = random_floats(size_t(dims.rel_rows_w()) * dims.head_dim, rng, table);
  p.dout = random_floats(size_t(p.rows * p.ldo), rng, 1.f);
  return p;
}

// Results, packed: out/dq/dk/dv as [B*N, C], probs [B, heads, N, keys], drel_* [rows, d].
struct Result {
  std::vector<double> out, probs, dq, dk, dv, drel_h, drel_w;
};
struct FloatResult {
  std::vector<float> out, probs, dq, dk, dv, drel_h, drel_w;
};

// The first `cols` channels of `rows` rows of stride ld starting at `base`.
template <typename T>
std::vector<T> pack_rows(const T* base, int64_t rows, int64_t ld, int64_t cols) {
  std::vector<T> r(size_t(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < cols; ++c) r[size_t(i * cols + c)] = base[i * ld + c];
  return r;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

Result reference(const Problem& p) {
  const AttentionDims& dims = p.dims;
  const std::vector<double> q = to_double(p.q), k = to_double(p.k), v = to_double(p.v);
  const double* qp = q.data();
  const double* kp = p.fused ? q.data() + p.C : k.data();
  const double* vp = p.fused ? q.data() + 2 * p.C : v.data();
  const std::vector<double> rel_h = to_double(p.rel_h), rel_w = to_double(p.rel_w);
  const std::vector<double> dout = to_double(p.dout);
  std::vector<double> out(size_t(p.rows * p.ldo)), probs(size_t(dims.probs_size()));
  ops::ref::attention_forward<double>(dims, qp, kp, vp, rel_h.data(), rel_w.data(), out.data(),
                                      probs.data());
  // Gradients as the fast paths lay them out: fused like the inputs, or separate.
  std::vector<double> dqkv(size_t(p.rows * p.ld)), dk(size_t(p.rows * p.ld)),
      dv(size_t(p.rows * p.ld));
  double* dqp = dqkv.data();
  double* dkp = p.fused ? dqkv.data() + p.C : dk.data();
  double* dvp = p.fused ? dqkv.data() + 2 * p.C : dv.data();
  std::vector<double> drel_h(rel_h.size()), drel_w(rel_w.size());
  ops::ref::attention_backward<double>(dims, qp, kp, vp, rel_h.data(), rel_w.data(), probs.data(),
                                       dout.data(), dqp, dkp, dvp, drel_h.data(), drel_w.data());
  Result r;
  r.out = pack_rows(out.data(), p.rows, p.ldo, p.C);
  r.probs = probs;
  r.dq = pack_rows<double>(dqp, p.rows, p.ld, p.C);
  r.dk = pack_rows<double>(dkp, p.rows, p.ld, p.C);
  r.dv = pack_rows<double>(dvp, p.rows, p.ld, p.C);
  r.drel_h = drel_h;
  r.drel_w = drel_w;
  return r;
}

// A backend under test, over host-visible pointers (the device variants copy in and out).
using ForwardFn = std::function<void(const AttentionDims&, const float* q, const float* k,
                                     const float* v, const float* rel_h, const float* rel_w,
                                     float* out, float* probs)>;
using BackwardFn = std::function<void(
    const AttentionDims&, const float* q, const float* k, const float* v, const float* rel_h,
    const float* rel_w, const float* probs, const float* dout, float* dq, float* dk, float* dv,
    float* drel_h, float* drel_w)>;

// Which gradients to ask for.
struct Wants {
  bool dq = true, dk = true, dv = true, drel_h = true, drel_w = true;
};

// A host buffer of n floats with sentinel guards either side; check() fails the test if the
// guards (or, for strided outputs, the unused channels) were written.
class Guarded {
 public:
  explicit Guarded(size_t n) : data_(n + 2 * kGuard, kSentinel), n_(n) {}
  float* get() { return data_.data() + kGuard; }
  void check_guards(const std::string& what) const {
    for (size_t i = 0; i < kGuard; ++i) {
      ASSERT_EQ(data_[i], kSentinel) << what << ": written before its start";
      ASSERT_EQ(data_[kGuard + n_ + i], kSentinel) << what << ": written past its end";
    }
  }
  // Channels [from, to) of every row must be untouched (to = -1: up to ld).
  void check_unused(int64_t rows, int64_t ld, int64_t from, const std::string& what,
                    int64_t to = -1) const {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = from; c < (to < 0 ? ld : to); ++c)
        ASSERT_EQ(data_[kGuard + size_t(r * ld + c)], kSentinel)
            << what << ": row " << r << " channel " << c << " is not the op's to write";
  }

 private:
  static constexpr size_t kGuard = 64;
  std::vector<float> data_;
  size_t n_;
};

FloatResult run_backend(const Problem& p, const ForwardFn& forward, const BackwardFn& backward,
                        const Wants& wants, bool save_probs = true) {
  const AttentionDims& dims = p.dims;
  FloatResult r;
  Guarded out(size_t(p.rows * p.ldo)), probs(size_t(dims.probs_size()));
  forward(dims, p.qp(), p.kp(), p.vp(), p.rel_h.data(), p.rel_w.data(), out.get(),
          save_probs ? probs.get() : nullptr);
  out.check_guards("out");
  out.check_unused(p.rows, p.ldo, p.C, "out");
  probs.check_guards("probs");
  r.out = pack_rows<float>(out.get(), p.rows, p.ldo, p.C);
  if (!save_probs) return r;
  r.probs.assign(probs.get(), probs.get() + dims.probs_size());

  // Fused gradients share one buffer like the inputs; separate ones get one each.
  Guarded dqkv(size_t(p.rows * p.ld)), dk(size_t(p.rows * p.ld)), dv(size_t(p.rows * p.ld));
  Guarded drel_h(p.rel_h.size()), drel_w(p.rel_w.size());
  float* dqp = wants.dq ? dqkv.get() : nullptr;
  float* dkp = !wants.dk ? nullptr : p.fused ? dqkv.get() + p.C : dk.get();
  float* dvp = !wants.dv ? nullptr : p.fused ? dqkv.get() + 2 * p.C : dv.get();
  backward(dims, p.qp(), p.kp(), p.vp(), p.rel_h.data(), p.rel_w.data(), r.probs.data(),
           p.dout.data(), dqp, dkp, dvp, wants.drel_h ? drel_h.get() : nullptr,
           wants.drel_w ? drel_w.get() : nullptr);
  for (const Guarded* g : {&dqkv, &dk, &dv, &drel_h, &drel_w}) g->check_guards("gradients");
  if (p.fused) {
    dqkv.check_unused(p.rows, p.ld, 3 * p.C, "dq/dk/dv");
  } else {
    dqkv.check_unused(p.rows, p.ld, p.C, "dq");
    dk.check_unused(p.rows, p.ld, p.C, "dk");
    dv.check_unused(p.rows, p.ld, p.C, "dv");
  }
  if (dqp) r.dq = pack_rows<float>(dqp, p.rows, p.ld, p.C);
  if (dkp) r.dk = pack_rows<float>(dkp, p.rows, p.ld, p.C);
  if (dvp) r.dv = pack_rows<float>(dvp, p.rows, p.ld, p.C);
  if (wants.drel_h) r.drel_h.assign(drel_h.get(), drel_h.get() + p.rel_h.size());
  if (wants.drel_w) r.drel_w.assign(drel_w.get(), drel_w.get() + p.rel_w.size());
  // Gradients not asked for: their buffers must be untouched.
  const Guarded& dk_buffer = p.fused ? dqkv : dk;
  const Guarded& dv_buffer = p.fused ? dqkv : dv;
  const int64_t dk_at = p.fused ? p.C : 0, dv_at = p.fused ? 2 * p.C : 0;
  if (!wants.dq) dqkv.check_unused(p.rows, p.ld, 0, "dq (not asked for)", p.C);
  if (!wants.dk) dk_buffer.check_unused(p.rows, p.ld, dk_at, "dk (not asked for)", dk_at + p.C);
  if (!wants.dv) dv_buffer.check_unused(p.rows, p.ld, dv_at, "dv (not asked for)", dv_at + p.C);
  if (!wants.drel_h) drel_h.check_unused(1, int64_t(p.rel_h.size()), 0, "drel_h (not asked for)");
  if (!wants.drel_w) drel_w.check_unused(1, int64_t(p.rel_w.size()), 0, "drel_w (not asked for)");
  return r;
}

// float32 against the double reference at |got - ref| <= atol + rtol |ref|, with the tolerances
// of the CPU fast path's tests (test_attention.cc): logits grow like scale^2 sqrt(d), float
// rounding of a logit moves P by about that times 1e-7, and every output inherits it; the
// gradients grow by one more factor of scale.
struct Tolerances {
  double out, probs, grad, table, rtol = 1e-3;
};
Tolerances tolerances(const AttentionDims& dims, double scale) {
  const double mag = std::max(1.0, scale * scale * std::sqrt(double(dims.head_dim)));
  Tolerances t;
  t.out = 2e-5 * mag * std::max(1.0, scale);
  t.probs = 2e-6 * mag;
  t.grad = t.out * std::max(1.0, scale) * 4;
  t.table = t.grad * 4;
  return t;
}

void expect_matches(const FloatResult& got, const Result& ref, const Tolerances& t,
                    const Wants& wants, const std::string& what, bool with_backward = true) {
  expect_close(got.out, ref.out, t.out, t.rtol, what + ": out");
  if (!with_backward) return;
  expect_close(got.probs, ref.probs, t.probs, t.rtol, what + ": probs");
  if (wants.dq) expect_close(got.dq, ref.dq, t.grad, t.rtol, what + ": dq");
  if (wants.dk) expect_close(got.dk, ref.dk, t.grad, t.rtol, what + ": dk");
  if (wants.dv) expect_close(got.dv, ref.dv, t.grad, t.rtol, what + ": dv");
  if (wants.drel_h) expect_close(got.drel_h, ref.drel_h, t.table, t.rtol, what + ": drel_h");
  if (wants.drel_w) expect_close(got.drel_w, ref.drel_w, t.table, t.rtol, what + ": drel_w");
}

AttentionDims make_dims(int batch, int height, int width, int heads, int head_dim, int window,
                        int64_t ld_extra = 0, int64_t ld_out_extra = 0, bool fused = false) {
  AttentionDims d;
  d.batch = batch;
  d.height = height;
  d.width = width;
  d.heads = heads;
  d.head_dim = head_dim;
  d.window = window;
  const int64_t C = d.channels();
  d.ld = (fused ? 3 * C : C) + ld_extra;
  d.ld_out = C + ld_out_extra;
  return d;
}

struct Case {
  const char* name;
  AttentionDims dims;
  bool fused;
};

// Shapes that exercise each path: global and local, non-square maps, strided and fused rows,
// windows wider than the map, and (second group) more rows, keys and channels than one tile.
std::vector<Case> small_cases() {
  return {
      {"global 3x4 fused", make_dims(2, 3, 4, 2, 5, 0, 2, 3, true), true},
      {"global 1x1", make_dims(1, 1, 1, 3, 2, 0), false},
      {"global 5x2 strided", make_dims(1, 5, 2, 1, 7, 0, 4, 1), false},
      {"local 5x6 K3 fused", make_dims(2, 5, 6, 2, 4, 3, 1, 0, true), true},
      {"local 4x3 K5 strided", make_dims(1, 4, 3, 2, 3, 5, 3, 2), false},
      {"local 2x2 K7", make_dims(1, 2, 2, 1, 3, 7), false},
  };
}
std::vector<Case> tiled_cases() {
  return {
      // N = 72 > 64 rows and keys per tile; d = 20 > 16 per k-step, not a multiple of it.
      {"global 9x8 d20 fused", make_dims(1, 9, 8, 2, 20, 0, 0, 5, true), true},
      // rel rows 2H-1 + 2W-1 = 33 + 3 = 36 and a tall map.
      {"global 17x2 d3", make_dims(2, 17, 2, 1, 3, 0), false},
  };
}

// ---- the kernels under the CPU emulation ------------------------------------------------------
namespace emu = ops::cuda_emulated;

void emulated_forward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                      const float* rel_h, const float* rel_w, float* out, float* probs) {
  emu::run_forward(dims, q, k, v, rel_h, rel_w, out, probs, nullptr);
}
void emulated_backward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                       const float* rel_h, const float* rel_w, const float* probs,
                       const float* dout, float* dq, float* dk, float* dv, float* drel_h,
                       float* drel_w) {
  emu::run_backward(dims, q, k, v, rel_h, rel_w, probs, dout, dq, dk, dv, drel_h, drel_w,
                    nullptr);
}

TEST(AttentionCudaEmulated, SmallShapesMatchReference) {
  for (const Case& c : small_cases()) {
    for (float scale : {0.1f, 1.f, 3.f}) {  // 0.1: nearly uniform rows; 3: peaked ones
      const Problem p = make_problem(c.dims, c.fused, 17, scale);
      const std::string what = std::string(c.name) + " scale " + std::to_string(scale);
      expect_matches(run_backend(p, emulated_forward, emulated_backward, Wants{}), reference(p),
                     tolerances(c.dims, scale), Wants{}, what);
    }
  }
}

TEST(AttentionCudaEmulated, ShapesLargerThanOneTileMatchReference) {
  for (const Case& c : tiled_cases()) {
    const Problem p = make_problem(c.dims, c.fused, 29);
    expect_matches(run_backend(p, emulated_forward, emulated_backward, Wants{}), reference(p),
                   tolerances(c.dims, 1.0), Wants{}, c.name);
  }
}

TEST(AttentionCudaEmulated, ComputesOnlyTheGradientsAskedFor) {
  const std::vector<Wants> subsets = {
      {false, false, true, false, false},  // dv alone: no dS at all
      {true, false, false, false, false},
      {false, true, false, false, true},
      {false, false, false, true, false},
  };
  for (const Case& c : {small_cases()[0], small_cases()[3]}) {
    const Problem p = make_problem(c.dims, c.fused, 5);
    const Result ref = reference(p);
    for (const Wants& w : subsets)
      expect_matches(run_backend(p, emulated_forward, emulated_backward, w), ref,
                     tolerances(c.dims, 1.0), w, c.name);
  }
}

TEST(AttentionCudaEmulated, ForwardWithoutProbs) {
  for (const Case& c : {small_cases()[0], small_cases()[4]}) {
    const Problem p = make_problem(c.dims, c.fused, 8);
    expect_matches(run_backend(p, emulated_forward, emulated_backward, Wants{}, false),
                   reference(p), tolerances(c.dims, 1.0), Wants{}, c.name, false);
  }
}

TEST(AttentionCudaEmulated, RejectsBadArguments) {
  const Problem p = make_problem(make_dims(1, 3, 3, 2, 4, 0), false, 3);
  std::vector<float> out(size_t(p.rows * p.C)), probs(size_t(p.dims.probs_size()));
  AttentionDims even = p.dims;
  even.window = 4;  // windows are odd
  EXPECT_THROW(emulated_forward(even, p.qp(), p.kp(), p.vp(), p.rel_h.data(), p.rel_w.data(),
                                out.data(), probs.data()),
               std::invalid_argument);
  EXPECT_THROW(emulated_forward(p.dims, p.qp(), nullptr, p.vp(), p.rel_h.data(), p.rel_w.data(),
                                out.data(), probs.data()),
               std::invalid_argument);
  // Backward needs the forward's probabilities.
  EXPECT_THROW(emulated_backward(p.dims, p.qp(), p.kp(), p.vp(), p.rel_h.data(), p.rel_w.data(),
                                 nullptr, p.dout.data(), out.data(), nullptr, nullptr, nullptr,
                                 nullptr),
               std::invalid_argument);
}

// ---- the device -------------------------------------------------------------------------------
#define SKIP_WITHOUT_CUDA()                                                       \
  do {                                                                            \
    if (!ops::cuda_available()) GTEST_SKIP() << ops::cuda_unavailable_reason();   \
  } while (0)

// The device-pointer API: whole strided host arrays go up as they are and come back as they are,
// so the guard and unused-channel checks see every device write.
ops::DeviceBuffer to_device(const float* host, size_t n) {
  ops::DeviceBuffer b(n);
  b.upload(host, n);
  return b;
}

struct DeviceRun {
  const Problem* p;
  void forward(const AttentionDims& dims, const float* q, const float* k, const float* v,
               const float* rel_h, const float* rel_w, float* out, float* probs) const {
    // Inputs: the whole buffer q (or q, k, v) points into, so offsets carry over.
    const size_t n = size_t(p->rows * p->ld);
    ops::DeviceBuffer dq = to_device(p->q.data(), n);
    ops::DeviceBuffer dk = p->fused ? ops::DeviceBuffer() : to_device(p->k.data(), n);
    ops::DeviceBuffer dv = p->fused ? ops::DeviceBuffer() : to_device(p->v.data(), n);
    const float* qd = dq.data();
    const float* kd = p->fused ? dq.data() + (k - q) : dk.data();
    const float* vd = p->fused ? dq.data() + (v - q) : dv.data();
    ops::DeviceBuffer rh = to_device(rel_h, p->rel_h.size()), rw = to_device(rel_w, p->rel_w.size());
    // Outputs start as the host's sentinel-filled rows.
    const size_t no = size_t(p->rows * p->ldo), np = size_t(dims.probs_size());
    ops::DeviceBuffer o = to_device(out, no);
    ops::DeviceBuffer pr = probs ? to_device(probs, np) : ops::DeviceBuffer();
    ops::attention_forward_cuda(dims, qd, kd, vd, rh.data(), rw.data(), o.data(),
                                probs ? pr.data() : nullptr);
    ops::cuda_synchronize();
    o.download(out, no);
    if (probs) pr.download(probs, np);
  }
  void backward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                const float* rel_h, const float* rel_w, const float* probs, const float* dout,
                float* dq, float* dk, float* dv, float* drel_h, float* drel_w) const {
    const size_t n = size_t(p->rows * p->ld);
    ops::DeviceBuffer bq = to_device(p->q.data(), n);
    ops::DeviceBuffer bk = p->fused ? ops::DeviceBuffer() : to_device(p->k.data(), n);
    ops::DeviceBuffer bv = p->fused ? ops::DeviceBuffer() : to_device(p->v.data(), n);
    const float* qd = bq.data();
    const float* kd = p->fused ? bq.data() + (k - q) : bk.data();
    const float* vd = p->fused ? bq.data() + (v - q) : bv.data();
    ops::DeviceBuffer rh = to_device(rel_h, p->rel_h.size()), rw = to_device(rel_w, p->rel_w.size());
    ops::DeviceBuffer pr = to_device(probs, size_t(dims.probs_size()));
    ops::DeviceBuffer go = to_device(dout, size_t(p->rows * p->ldo));
    // Gradient buffers: fused ones share one device buffer laid out like the host's.
    ops::DeviceBuffer gq, gk, gv, grh, grw;
    float* dqd = nullptr;
    float* dkd = nullptr;
    float* dvd = nullptr;
    float* base = p->fused ? (dq ? dq : dk ? dk - p->C : dv ? dv - 2 * p->C : nullptr) : nullptr;
    if (base) {
      gq = to_device(base, n);
      if (dq) dqd = gq.data();
      if (dk) dkd = gq.data() + p->C;
      if (dv) dvd = gq.data() + 2 * p->C;
    } else if (!p->fused) {
      if (dq) dqd = (gq = to_device(dq, n)).data();
      if (dk) dkd = (gk = to_device(dk, n)).data();
      if (dv) dvd = (gv = to_device(dv, n)).data();
    }
    if (drel_h) grh = to_device(drel_h, p->rel_h.size());
    if (drel_w) grw = to_device(drel_w, p->rel_w.size());
    ops::attention_backward_cuda(dims, qd, kd, vd, rh.data(), rw.data(), pr.data(), go.data(), dqd,
                                 dkd, dvd, drel_h ? grh.data() : nullptr,
                                 drel_w ? grw.data() : nullptr);
    ops::cuda_synchronize();
    if (base) gq.download(base, n);
    if (!p->fused) {
      if (dq) gq.download(dq, n);
      if (dk) gk.download(dk, n);
      if (dv) gv.download(dv, n);
    }
    if (drel_h) grh.download(drel_h, p->rel_h.size());
    if (drel_w) grw.download(drel_w, p->rel_w.size());
  }
};

FloatResult run_device(const Problem& p, const Wants& wants, bool save_probs = true) {
  DeviceRun d{&p};
  return run_backend(
      p, [&](auto&&... a) { d.forward(a...); }, [&](auto&&... a) { d.backward(a...); }, wants,
      save_probs);
}

TEST(AttentionCuda, DeviceName) {
  SKIP_WITHOUT_CUDA();
  const std::string name = ops::cuda_device_name();
  EXPECT_FALSE(name.empty());
  std::printf("CUDA device: %s\n", name.c_str());
}

TEST(AttentionCuda, SmallShapesMatchReference) {
  SKIP_WITHOUT_CUDA();
  for (const Case& c : small_cases())
    for (float scale : {0.1f, 1.f, 3.f}) {
      const Problem p = make_problem(c.dims, c.fused, 17, scale);
      expect_matches(run_device(p, Wants{}), reference(p), tolerances(c.dims, scale), Wants{},
                     std::string(c.name) + " scale " + std::to_string(scale));
    }
}

TEST(AttentionCuda, TiledShapesMatchReference) {
  SKIP_WITHOUT_CUDA();
  std::vector<Case> cases = tiled_cases();
  // Conv5-like: 14x14 map, 4 heads, fused qkv; and a local 7x7 window over it.
  cases.push_back({"global 14x14 d32 fused", make_dims(2, 14, 14, 4, 32, 0, 0, 0, true), true});
  cases.push_back({"local 14x14 K7 d32 fused", make_dims(2, 14, 14, 4, 32, 7, 0, 0, true), true});
  cases.push_back({"global 20x20 d16", make_dims(1, 20, 20, 2, 16, 0), false});
  for (const Case& c : cases) {
    const Problem p = make_problem(c.dims, c.fused, 29);
    expect_matches(run_device(p, Wants{}), reference(p), tolerances(c.dims, 1.0), Wants{},
                   c.name);
  }
}

TEST(AttentionCuda, GradientSubsetsAndNoProbs) {
  SKIP_WITHOUT_CUDA();
  const std::vector<Wants> subsets = {{false, false, true, false, false},
                                      {true, false, false, false, false},
                                      {false, true, false, false, true},
                                      {false, false, false, true, false}};
  for (const Case& c : {small_cases()[0], small_cases()[3]}) {
    const Problem p = make_problem(c.dims, c.fused, 5);
    const Result ref = reference(p);
    const Tolerances t = tolerances(c.dims, 1.0);
    for (const Wants& w : subsets) expect_matches(run_device(p, w), ref, t, w, c.name);
    expect_matches(run_device(p, Wants{}, false), ref, t, Wants{}, c.name, false);
  }
}

TEST(AttentionCuda, RunsAreBitwiseReproducible) {
  SKIP_WITHOUT_CUDA();
  for (const Case& c : {tiled_cases()[0], small_cases()[3]}) {
    const Problem p = make_problem(c.dims, c.fused, 41);
    const FloatResult a = run_device(p, Wants{}), b = run_device(p, Wants{});
    EXPECT_EQ(a.out, b.out) << c.name;
    EXPECT_EQ(a.probs, b.probs) << c.name;
    EXPECT_EQ(a.dq, b.dq) << c.name;
    EXPECT_EQ(a.dk, b.dk) << c.name;
    EXPECT_EQ(a.dv, b.dv) << c.name;
    EXPECT_EQ(a.drel_h, b.drel_h) << c.name;
    EXPECT_EQ(a.drel_w, b.drel_w) << c.name;
  }
}

TEST(AttentionCuda, HostWrappersMatchReferenceAndCountCopies) {
  SKIP_WITHOUT_CUDA();
  auto forward = [](auto&&... a) { ops::attention_forward_on(ops::Device::cuda, a...); };
  auto backward = [](auto&&... a) { ops::attention_backward_on(ops::Device::cuda, a...); };
  for (const Case& c : {small_cases()[0], small_cases()[4], tiled_cases()[0]}) {
    const Problem p = make_problem(c.dims, c.fused, 13);
    ops::reset_attention_transfer_stats();
    expect_matches(run_backend(p, forward, backward, Wants{}), reference(p),
                   tolerances(c.dims, 1.0), Wants{}, c.name);
    const ops::AttentionTransferStats s = ops::attention_transfer_stats();
    const int64_t f = sizeof(float), qkv = 3 * p.rows * p.C * f, rows = p.rows * p.C * f;
    const int64_t rel = int64_t(p.rel_h.size() + p.rel_w.size()) * f;
    const int64_t probs = c.dims.probs_size() * f;
    EXPECT_EQ(s.calls, 2) << c.name;
    // Forward: q, k, v, tables up; out, probs down. Backward: the same plus probs and dout up;
    // dq, dk, dv and the tables' gradients down.
    EXPECT_EQ(s.bytes_to_device, 2 * (qkv + rel) + probs + rows) << c.name;
    EXPECT_EQ(s.bytes_to_host, rows + probs + qkv + rel) << c.name;
    EXPECT_GT(s.seconds_to_device, 0) << c.name;
    EXPECT_GT(s.seconds_to_host, 0) << c.name;
    EXPECT_GT(s.seconds_compute, 0) << c.name;
  }
  ops::release_attention_device_buffers();
}

// ---- the device setting -----------------------------------------------------------------------
TEST(AttentionDevice, ParsesNames) {
  EXPECT_EQ(ops::parse_device("cpu"), ops::Device::cpu);
  EXPECT_EQ(ops::parse_device("cuda"), ops::Device::cuda);
  EXPECT_STREQ(ops::device_name(ops::Device::cuda), "cuda");
  EXPECT_STREQ(ops::device_name(ops::Device::cpu), "cpu");
  EXPECT_THROW(ops::parse_device("gpu"), std::invalid_argument);
  EXPECT_THROW(ops::parse_device(""), std::invalid_argument);
}

// The device is an option of each model (ModelConfig::attention_device), carried by its MHSA
// modules: cpu unless asked, and cuda only where it can run.
TEST(AttentionDevice, AModelCarriesItsDevice) {
  EXPECT_NO_THROW(ops::require_device(ops::Device::cpu));
  models::ModelConfig cfg;
  cfg.name = "botnet50";
  cfg.num_classes = 3;
  cfg.height = cfg.width = 64;
  cfg.width_mult = 0.0625;
  cfg.blocks = {1, 1, 1, 1};
  auto count_devices = [](nn::Module& m) {
    int cpu = 0, cuda = 0;
    nn::for_each_module(m, [&](nn::Module& x) {
      if (auto* a = dynamic_cast<models::MHSA*>(&x)) (a->device == ops::Device::cuda ? cuda : cpu)++;
    });
    return std::make_pair(cpu, cuda);
  };
  auto model = models::build_model(cfg);
  EXPECT_EQ(count_devices(*model), std::make_pair(1, 0));
  cfg.attention_device = ops::Device::cuda;
  if (ops::cuda_available()) {
    EXPECT_EQ(count_devices(*models::build_model(cfg)), std::make_pair(0, 1));
  } else {
    try {
      models::build_model(cfg);
      ADD_FAILURE() << "a cuda model was built without a usable device";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(ops::cuda_unavailable_reason()), std::string::npos) << e.what();
    }
  }
}

// Without a usable device, choosing cuda fails at once with the reason, and so does a call.
TEST(AttentionDevice, CudaWithoutDeviceFailsClearly) {
  if (ops::cuda_available()) GTEST_SKIP() << "a CUDA device is present: nothing to refuse";
  const std::string why = ops::cuda_unavailable_reason();
  EXPECT_TRUE(why.find("built without CUDA") != std::string::npos ||
              why.find("no CUDA device") != std::string::npos)
      << why;
  try {
    ops::require_device(ops::Device::cuda);
    ADD_FAILURE() << "require_device(cuda) did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
  const Problem p = make_problem(make_dims(1, 2, 2, 1, 2, 0), false, 1);
  std::vector<float> out(size_t(p.rows * p.C));
  EXPECT_THROW(ops::attention_forward_on(ops::Device::cuda, p.dims, p.qp(), p.kp(), p.vp(),
                                         p.rel_h.data(), p.rel_w.data(), out.data(), nullptr),
               std::runtime_error);
  EXPECT_THROW(ops::attention_forward_cuda(p.dims, p.qp(), p.kp(), p.vp(), p.rel_h.data(),
                                           p.rel_w.data(), out.data(), nullptr),
               std::runtime_error);
}

// The cpu choice is the CPU kernel itself, bit for bit.
TEST(AttentionDevice, CpuChoiceIsTheCpuKernel) {
  const Problem p = make_problem(make_dims(2, 3, 4, 2, 5, 0, 2, 3, true), true, 9);
  auto cpu = [](auto&&... a) { ops::attention_forward(a...); };
  auto cpu_back = [](auto&&... a) { ops::attention_backward(a...); };
  auto on = [](auto&&... a) { ops::attention_forward_on(ops::Device::cpu, a...); };
  auto on_back = [](auto&&... a) { ops::attention_backward_on(ops::Device::cpu, a...); };
  const FloatResult a = run_backend(p, cpu, cpu_back, Wants{});
  const FloatResult b = run_backend(p, on, on_back, Wants{});
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.dq, b.dq);
  EXPECT_EQ(a.drel_w, b.drel_w);
}

}  // namespace
}  // namespace hsanet
