#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <sstream>

#include "autograd/tensor.h"
#include "base/random.h"

namespace hsanet {
namespace {

TEST(Tensor, CreationShapesAndAlignment) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  for (float v : t.to_vector()) EXPECT_EQ(v, 0.f);
  EXPECT_THROW(t.size(3), std::out_of_range);
  EXPECT_THROW(Tensor::from_vector({1, 2, 3}, {2, 2}), std::invalid_argument);
  EXPECT_THROW(Tensor::empty({2, -1}), std::invalid_argument);
}

TEST(Tensor, ViewSharesStorageCloneDoesNot) {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor v = t.view({3, 2});
  EXPECT_TRUE(v.shares_storage_with(t));
  v.data()[0] = 42;
  EXPECT_EQ(t.data()[0], 42);
  Tensor c = t.clone();
  EXPECT_FALSE(c.shares_storage_with(t));
  c.data()[1] = -1;
  EXPECT_EQ(t.data()[1], 2);
  EXPECT_THROW(t.view({4}), std::invalid_argument);
}

TEST(Tensor, UndefinedTensorErrorsClearly) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_THROW(u.shape(), std::logic_error);
  EXPECT_THROW(Tensor::zeros({2}).item(), std::logic_error);
}

TEST(Random, SeededAndReproducible) {
  Rng a(7), b(7), c(8);
  for (int i = 0; i < 10; ++i) {
    const float x = a.normal();
    EXPECT_EQ(x, b.normal());
  }
  EXPECT_NE(Rng(7).next_u64(), c.next_u64());
  Rng d(3), e(3);
  Tensor t1 = Tensor::randn({100}, d);
  Tensor t2 = Tensor::randn({100}, e);
  EXPECT_EQ(t1.to_vector(), t2.to_vector());
}

TEST(Random, NormalHasTheRightMoments) {
  Rng r(11);
  const int n = 200000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal(1.f, 2.f);
    s += x;
    s2 += x * x;
  }
  const double mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 1.0, 0.02);
  EXPECT_NEAR(var, 4.0, 0.05);
  for (int i = 0; i < 1000; ++i) {
    const float u = r.uniform();
    EXPECT_GE(u, 0.f);
    EXPECT_LT(u, 1.f);
    EXPECT_LT(r.below(7), 7u);
  }
}

TEST(Random, KaimingNormalStd) {
  Rng r(12);
  Tensor w = Tensor::kaiming_normal({64, 32, 3, 3}, 64 * 9, r);
  double s2 = 0;
  for (float v : w.to_vector()) s2 += v * v;
  EXPECT_NEAR(std::sqrt(s2 / w.numel()), std::sqrt(2.0 / (64 * 9)), 0.003);
}

TEST(Tensor, PrintsShapeAndValues) {
  std::ostringstream os;
  os << Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  EXPECT_NE(os.str().find("[2, 2]"), std::string::npos);
  EXPECT_NE(os.str().find("4"), std::string::npos);
}

}  // namespace
}  // namespace hsanet

#include "base/allocator.h"

namespace hsanet {
namespace {

TEST(Allocator, ReusesReleasedBlocksOfTheSameSize) {
  const Shape big{256, 1024};  // 1 MiB: cached
  const float* first;
  {
    Tensor t = Tensor::empty(big);
    first = t.data();
  }
  const AllocatorStats before = allocator_stats();
  Tensor again = Tensor::empty(big);
  const AllocatorStats after = allocator_stats();
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(again.data()) % 64, 0u);
  EXPECT_GE(after.bytes_in_use, static_cast<int64_t>(256 * 1024 * sizeof(float)));
  release_cached_tensor_memory();
  EXPECT_EQ(allocator_stats().bytes_cached, 0);
}

TEST(Allocator, HandsOutTheMostRecentlyReleasedBlockFirst) {
  // The block released last is the likeliest to be in cache still; a large one (2 MiB and up)
  // also starts on a huge-page boundary.
  release_cached_tensor_memory();
  const Shape big{512, 1024};  // 2 MiB
  const float *a_data, *b_data;
  {
    Tensor a = Tensor::empty(big), b = Tensor::empty(big);
    a_data = a.data(), b_data = b.data();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a_data) % (uintptr_t{2} << 20), 0u);
    a = Tensor();  // released first
  }                // b released last
  Tensor next = Tensor::empty(big), after = Tensor::empty(big);
  EXPECT_EQ(next.data(), b_data);
  EXPECT_EQ(after.data(), a_data);
}

}  // namespace
}  // namespace hsanet
