// oneDNN matmul. Transposes are expressed as strides on the memory descriptors, so no copies.
// One primitive per distinct shape, created on first use and kept (oneDNN's advice: "create
// primitives once, and reuse them").
#include "ops/matmul.h"

#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include <dnnl.hpp>

#include "ops/onednn_engine.h"

namespace hsanet::ops {

namespace {

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, bool, bool, bool>;

struct MatmulPlan {
  dnnl::memory::desc a, b, c;
  dnnl::matmul prim;
};

MatmulPlan make_plan(const Key& key) {
  auto [batch, M, N, K, ta, tb, acc, bcast] = key;
  using dims = dnnl::memory::dims;
  const auto f32 = dnnl::memory::data_type::f32;
  const int64_t bb = bcast ? 1 : batch;
  // Logical dims are always [batch, rows, cols] of op(X); strides say how X is stored.
  dnnl::memory::desc a(dims{batch, M, K}, f32, ta ? dims{M * K, 1, M} : dims{M * K, K, 1});
  dnnl::memory::desc b(dims{bb, K, N}, f32, tb ? dims{K * N, 1, K} : dims{K * N, N, 1});
  dnnl::memory::desc c(dims{batch, M, N}, f32, dims{M * N, N, 1});
  dnnl::primitive_attr attr;
  if (acc) {
    dnnl::post_ops po;
    po.append_sum(1.f);  // C = A*B + C
    attr.set_post_ops(po);
  }
  dnnl::matmul::desc d(a, b, c);
  dnnl::matmul::primitive_desc pd(d, attr, onednn_engine());
  return MatmulPlan{a, b, c, dnnl::matmul(pd)};
}

}  // namespace

void matmul(const float* A, const float* B, float* C, int64_t batch, int64_t M, int64_t N,
            int64_t K, bool trans_a, bool trans_b, bool accumulate, bool broadcast_b) {
  if (batch <= 0 || M <= 0 || N <= 0 || K <= 0)
    throw std::invalid_argument("matmul: all sizes must be positive");
  static std::mutex mu;
  static std::map<Key, MatmulPlan> cache;
  const Key key{batch, M, N, K, trans_a, trans_b, accumulate, broadcast_b};
  MatmulPlan* plan;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, make_plan(key)).first;
    plan = &it->second;
  }
  auto& eng = onednn_engine();
  dnnl::memory ma(plan->a, eng, const_cast<float*>(A));
  dnnl::memory mb(plan->b, eng, const_cast<float*>(B));
  dnnl::memory mc(plan->c, eng, C);
  auto& s = onednn_stream();
  plan->prim.execute(s, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
  s.wait();
}

}  // namespace hsanet::ops
