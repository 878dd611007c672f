// The tape itself: accumulation, fan-out, masks, freeing, error messages, deep graphs.
#include <gtest/gtest.h>

#include "autograd/functions_basic.h"
#include "autograd/node.h"

namespace hsanet {
namespace {

Tensor param(std::vector<float> v, Shape s) {
  Tensor t = Tensor::from_vector(v, s);
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, FanOutSumsGradients) {
  // y = x*x + x  =>  dy/dx = 2x + 1
  Tensor x = param({1.f, -2.f, 3.f}, {3});
  Tensor y = sum(add(mul(x, x), x));
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3.f, -3.f, 7.f}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCallsUntilZeroed) {
  Tensor x = param({2.f}, {1});
  sum(scale(x, 3.f)).backward();
  sum(scale(x, 3.f)).backward();
  EXPECT_EQ(x.grad().item(), 6.f);
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  sum(scale(x, 3.f)).backward();
  EXPECT_EQ(x.grad().item(), 3.f);
}

TEST(Autograd, OnlyNeededGradientsAreComputed) {
  Tensor a = param({1.f, 2.f}, {2});
  Tensor b = Tensor::from_vector({3.f, 4.f}, {2});  // does not require grad
  Tensor y = sum(mul(a, b));
  ASSERT_TRUE(y.requires_grad());
  y.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{3.f, 4.f}));
  EXPECT_FALSE(b.grad().defined());
  // A node records exactly which inputs need a gradient.
  Tensor z = mul(a, b);
  ASSERT_TRUE(z.grad_fn());
  EXPECT_EQ(z.grad_fn()->needs, (NeedsGrad{true, false}));
}

TEST(Autograd, NoGradScopeRecordsNothing) {
  Tensor a = param({1.f}, {1});
  {
    NoGradGuard no_grad;
    Tensor y = scale(a, 2.f);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(y.grad_fn());
  }
  EXPECT_TRUE(scale(a, 2.f).requires_grad());
}

TEST(Autograd, SecondBackwardOnFreedGraphIsAClearError) {
  Tensor a = param({1.f, 2.f}, {2});
  Tensor y = sum(mul(a, a));
  y.backward();
  try {
    y.backward();
    FAIL() << "second backward should throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
  Tensor z = sum(mul(a, a));
  a.zero_grad();
  z.backward(Tensor(), /*retain_graph=*/true);
  z.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{4.f, 8.f}));
}

TEST(Autograd, SavedTensorsAreReleasedDuringTheSweep) {
  Tensor a = param({1.f, 2.f}, {2});
  Tensor h = relu(a);
  std::weak_ptr<TensorImpl> saved;
  Tensor y = sum(mul(h, h));
  // mul saved detached views of h sharing its storage; after backward the closure is gone.
  y.backward();
  EXPECT_TRUE(y.grad_fn()->released);
  EXPECT_FALSE(y.grad_fn()->fn);
}

TEST(Autograd, ShapeMismatchInAccumulationIsAPreciseError) {
  Tensor a = param({1.f, 2.f}, {2});
  try {
    a.accumulate_grad(Tensor::zeros({3}));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[3]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[2]"), std::string::npos);
  }
  Tensor y = scale(a, 1.f);
  EXPECT_THROW(y.backward(Tensor::zeros({5})), std::invalid_argument);
  EXPECT_THROW(y.backward(), std::logic_error);  // two elements need an explicit gradient
}

TEST(Autograd, DeepChainNeedsNoRecursion) {
  // 20,000 nodes: a recursive sort would overflow the stack.
  Tensor x = param({1.f}, {1});
  Tensor h = x;
  for (int i = 0; i < 20000; ++i) h = scale(h, 1.f);
  sum(h).backward();
  EXPECT_EQ(x.grad().item(), 1.f);
}

TEST(Autograd, DiamondGraphRunsEachNodeOnce) {
  // h = 2x; y = h*h + 3h  => dy/dx = (2h + 3) * 2 = 8x + 6
  Tensor x = param({1.5f}, {1});
  Tensor h = scale(x, 2.f);
  sum(add(mul(h, h), scale(h, 3.f))).backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 8 * 1.5f + 6);
}

// y = k * x with a backward that adds into the input's partial gradient when offered one.
// `offered` counts the offers it took.
Tensor scale_accumulating(const Tensor& x, float k, int* offered) {
  Tensor y = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y.data()[i] = k * x.data()[i];
  return record("scale_accumulating", y, {x}, [k, offered](const Tensor& gy, const NeedsGrad&) {
    Tensor into = accumulation_target(0);
    Tensor gx = into.defined() ? into : Tensor::zeros(gy.shape());
    if (into.defined()) ++*offered;
    for (int64_t i = 0; i < gy.numel(); ++i) gx.data()[i] += k * gy.data()[i];
    return std::vector<Tensor>{gx};
  });
}

TEST(Autograd, ClosuresMayAddIntoTheInputsPartialGradient) {
  // h = 2x feeds two consumers; whichever runs second may add into the first one's gradient.
  // d/dx sum(3h + 5h) = 2 * 8 = 16, whatever the order.
  int offered = 0;
  for (bool accumulating_first : {false, true}) {
    Tensor x = param({1.f, -2.f}, {2});
    Tensor h = scale(x, 2.f);
    Tensor a = scale_accumulating(h, 5.f, &offered), b = scale(h, 3.f);
    Tensor loss = accumulating_first ? add(sum(b), sum(a)) : add(sum(a), sum(b));
    loss.backward();
    EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{16.f, 16.f}));
  }
  EXPECT_EQ(offered, 1);  // in the order where it runs second
}

TEST(Autograd, APartialGradientSharedWithAnotherBufferIsNeverWrittenInPlace) {
  // y = h + g whose backward hands the very same tensor to both inputs (as a pass-through may):
  // h's and g's partial gradients are then one buffer, and adding into it in place for h would
  // change g's as well while g still waits for its other consumer. With h = 2x, g = 7x:
  // d/dx [sum(h + g) + sum(5h) + sum(3g)] = 2 + 7 + 10 + 21 = 40, in every order of the terms.
  const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (const auto& order : orders) {
    Tensor x = param({1.f}, {1});
    Tensor h = scale(x, 2.f), g = scale(x, 7.f);
    Tensor y = record("add_sharing", add(h.detach(), g.detach()), {h, g},
                      [](const Tensor& gy, const NeedsGrad&) { return std::vector<Tensor>{gy, gy}; });
    int offered = 0;
    const Tensor terms[3] = {sum(y), sum(scale_accumulating(h, 5.f, &offered)), sum(scale(g, 3.f))};
    Tensor loss = add(add(terms[order[0]], terms[order[1]]), terms[order[2]]);
    loss.backward();
    EXPECT_FLOAT_EQ(x.grad().item(), 40.f);
  }
}

TEST(Autograd, OneGradientTensorForBothInputsOfOneProducerCountsTwice) {
  // h + h hands the same gradient tensor to the same producer twice: it must be summed, not
  // taken for an in-place accumulation. d/dx sum(2x + 2x) = 4.
  Tensor x = param({1.f, 3.f}, {2});
  Tensor h = scale(x, 2.f);
  sum(add(h, h)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{4.f, 4.f}));
  Tensor x2 = param({1.f}, {1});
  Tensor h2 = scale(x2, 2.f);
  Tensor y = record("pass_twice", add(h2.detach(), h2.detach()), {h2, h2},
                    [](const Tensor& gy, const NeedsGrad&) { return std::vector<Tensor>{gy, gy}; });
  sum(y).backward();
  EXPECT_EQ(x2.grad().item(), 4.f);
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = param({2.f}, {1});
  Tensor d = scale(x, 3.f).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_FALSE(d.grad_fn());
}

}  // namespace
}  // namespace hsanet
