// mhsa (autograd/functions_attention.h): the differentiable attention through the tape against
// the double reference (forward, and the gradients of qkv, rel_height and rel_width for a random
// upstream gradient G), partial gradients, inference without a saved P, and argument checks.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/functions_attention.h"
#include "autograd/functions_basic.h"
#include "autograd/node.h"
#include "gradcheck.h"
#include "ops/attention_ref.h"

namespace hsanet {
namespace {

using testing::expect_close;
using testing::random_vector;

struct Case {
  int B, H, W, heads, d, window;
};

std::string describe(const Case& c) {
  return std::to_string(c.H) + "x" + std::to_string(c.W) + " heads " + std::to_string(c.heads) +
         " d " + std::to_string(c.d) + " window " + std::to_string(c.window);
}

ops::AttentionDims dims_of(const Case& c) {
  ops::AttentionDims g;
  g.batch = c.B, g.height = c.H, g.width = c.W, g.heads = c.heads, g.head_dim = c.d;
  g.window = c.window;
  g.ld = 3 * c.heads * c.d;
  return g;
}

Tensor leaf(const std::vector<double>& v, const Shape& shape) {
  Tensor t = Tensor::from_vector(testing::to_float(v), shape);
  t.set_requires_grad(true);
  return t;
}

struct Reference {
  std::vector<double> out, dqkv, drh, drw;
};

// The double reference on the float inputs, with upstream gradient G.
Reference reference(const Case& c, const std::vector<double>& qkv, const std::vector<double>& rh,
                    const std::vector<double>& rw, const std::vector<double>& G) {
  const ops::AttentionDims g = dims_of(c);
  const int C = g.channels();
  Reference r;
  r.out.resize(int64_t(c.B) * g.positions() * C);
  std::vector<double> P(g.probs_size());
  ops::ref::attention_forward<double>(g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(),
                                      rw.data(), r.out.data(), P.data());
  r.dqkv.resize(qkv.size());
  r.drh.resize(rh.size());
  r.drw.resize(rw.size());
  ops::ref::attention_backward<double>(
      g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(), rw.data(), P.data(), G.data(),
      r.dqkv.data(), r.dqkv.data() + C, r.dqkv.data() + 2 * C, r.drh.data(), r.drw.data());
  return r;
}

TEST(Mhsa, ForwardAndGradientsMatchReference) {
  const Case cases[] = {
      {2, 4, 4, 2, 16, 0}, {1, 5, 3, 4, 8, 0}, {1, 1, 6, 1, 5, 0},
      {2, 5, 4, 2, 8, 3},  {1, 3, 3, 2, 4, 7},
  };
  Rng rng(17);
  for (const Case& c : cases) {
    const ops::AttentionDims g = dims_of(c);
    const int C = g.channels();
    const Shape qkv_shape{c.B, c.H, c.W, 3 * C};
    const Shape rh_shape{g.rel_rows_h(), c.d}, rw_shape{g.rel_rows_w(), c.d};
    // Round the inputs to float first so that reference and engine see the same numbers.
    auto draw = [&](int64_t n) {
      return testing::to_double(testing::to_float(random_vector(n, rng)));
    };
    const std::vector<double> qkv = draw(numel(qkv_shape)), rh = draw(numel(rh_shape)),
                              rw = draw(numel(rw_shape));
    const std::vector<double> G = draw(int64_t(c.B) * g.positions() * C);
    const Reference ref = reference(c, qkv, rh, rw, G);

    Tensor tqkv = leaf(qkv, qkv_shape), trh = leaf(rh, rh_shape), trw = leaf(rw, rw_shape);
    Tensor y = mhsa(tqkv, trh, trw, c.heads, c.window);
    ASSERT_EQ(y.shape(), (Shape{c.B, c.H, c.W, C})) << describe(c);
    const std::string what = describe(c);
    expect_close(y.data(), ref.out.data(), ref.out.size(), 1e-5, 1e-3, what + " forward");
    y.backward(Tensor::from_vector(testing::to_float(G), y.shape()));
    ASSERT_TRUE(tqkv.grad().defined() && trh.grad().defined() && trw.grad().defined()) << what;
    expect_close(tqkv.grad().data(), ref.dqkv.data(), ref.dqkv.size(), 1e-4, 1e-3,
                 what + " d(qkv)");
    expect_close(trh.grad().data(), ref.drh.data(), ref.drh.size(), 1e-4, 1e-3,
                 what + " d(rel_height)");
    expect_close(trw.grad().data(), ref.drw.data(), ref.drw.size(), 1e-4, 1e-3,
                 what + " d(rel_width)");
  }
}

TEST(Mhsa, GradientFlowsThroughAProducerAndOnlyWhereNeeded) {
  // qkv = 2 * x: the tape must carry mhsa's qkv gradient on to x (doubled); the tables do not
  // require grad here and must get none.
  const Case c{1, 3, 4, 2, 4, 0};
  const ops::AttentionDims g = dims_of(c);
  const int C = g.channels();
  Rng rng(3);
  auto draw = [&](int64_t n) {
    return testing::to_double(testing::to_float(random_vector(n, rng)));
  };
  const std::vector<double> x = draw(int64_t(c.H) * c.W * 3 * C);
  const std::vector<double> rh = draw(int64_t(g.rel_rows_h()) * c.d),
                            rw = draw(int64_t(g.rel_rows_w()) * c.d);
  const std::vector<double> G = draw(int64_t(g.positions()) * C);
  std::vector<double> qkv(x.size());
  for (size_t i = 0; i < x.size(); ++i) qkv[i] = 2 * x[i];
  const Reference ref = reference(c, qkv, rh, rw, G);

  Tensor tx = leaf(x, {1, c.H, c.W, 3 * C});
  Tensor trh = Tensor::from_vector(testing::to_float(rh), {g.rel_rows_h(), c.d});
  Tensor trw = Tensor::from_vector(testing::to_float(rw), {g.rel_rows_w(), c.d});
  Tensor y = mhsa(scale(tx, 2.f), trh, trw, c.heads);
  y.backward(Tensor::from_vector(testing::to_float(G), y.shape()));
  std::vector<double> want(ref.dqkv.size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = 2 * ref.dqkv[i];
  expect_close(tx.grad().data(), want.data(), want.size(), 1e-4, 1e-3, "d(x) through scale");
  EXPECT_FALSE(trh.grad().defined());
  EXPECT_FALSE(trw.grad().defined());
}

TEST(Mhsa, InferenceRecordsNothing) {
  const Case c{1, 4, 4, 2, 8, 3};
  const ops::AttentionDims g = dims_of(c);
  Rng rng(4);
  Tensor qkv = Tensor::randn({1, 4, 4, 3 * g.channels()}, rng);
  Tensor rh = Tensor::randn({g.rel_rows_h(), c.d}, rng),
         rw = Tensor::randn({g.rel_rows_w(), c.d}, rng);
  rh.set_requires_grad(true);
  Tensor with_grad = mhsa(qkv, rh, rw, c.heads, c.window);
  EXPECT_TRUE(with_grad.grad_fn() != nullptr);
  NoGradGuard no_grad;
  Tensor y = mhsa(qkv, rh, rw, c.heads, c.window);
  EXPECT_TRUE(y.grad_fn() == nullptr);
  EXPECT_EQ(y.to_vector(), with_grad.to_vector());
}

TEST(Mhsa, RejectsBadArguments) {
  Rng rng(5);
  Tensor qkv = Tensor::randn({1, 3, 3, 24}, rng);                           // C = 8
  Tensor rh = Tensor::randn({5, 4}, rng), rw = Tensor::randn({5, 4}, rng);  // 2 heads of 4
  EXPECT_NO_THROW(mhsa(qkv, rh, rw, 2));
  EXPECT_THROW(mhsa(Tensor::randn({1, 3, 3, 25}, rng), rh, rw, 2), std::invalid_argument);
  EXPECT_THROW(mhsa(Tensor::randn({3, 3, 24}, rng), rh, rw, 2), std::invalid_argument);
  EXPECT_THROW(mhsa(qkv, rh, rw, 3), std::invalid_argument);  // 3 does not divide 8
  EXPECT_THROW(mhsa(qkv, Tensor::randn({4, 4}, rng), rw, 2), std::invalid_argument);
  EXPECT_THROW(mhsa(qkv, rh, Tensor::randn({5, 8}, rng), 2), std::invalid_argument);
  EXPECT_THROW(mhsa(qkv, rh, rw, 2, 4), std::invalid_argument);  // even window
  // Local tables are [K, d].
  Tensor kh = Tensor::randn({3, 4}, rng), kw = Tensor::randn({3, 4}, rng);
  EXPECT_NO_THROW(mhsa(qkv, kh, kw, 2, 3));
  EXPECT_THROW(mhsa(qkv, rh, rw, 2, 3), std::invalid_argument);
}

}  // namespace
}  // namespace hsanet
