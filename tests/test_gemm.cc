// The attention core's GEMM and packing (ops/gemm-inl.h) on every compiled SIMD target, against
// a double reference: edge tiles in both directions, A stored transposed or not, accumulate or
// overwrite, and the promise that exactly Nc columns of C are written.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "test_gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {

void GemmForTest(bool trans_a, int M, int Nc, int Kd, const float* a, int64_t lda, const float* b,
                 int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (trans_a)
    Gemm<true>(M, Nc, Kd, a, lda, b, ldb, c, ldc, accumulate);
  else
    Gemm<false>(M, Nc, Kd, a, lda, b, ldb, c, ldc, accumulate);
}

void PackRowsForTest(const float* src, int64_t ld_src, int rows, int cols, float* dst,
                     int64_t ld_dst) {
  PackRows(src, ld_src, rows, cols, dst, ld_dst);
}

void PackTransposedForTest(const float* src, int64_t ld_src, int rows, int cols, float* dst,
                           int64_t ld_dst) {
  PackTransposed(src, ld_src, rows, cols, dst, ld_dst);
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "base/random.h"
#include "highway_targets.h"

namespace hsanet::ops {
HWY_EXPORT(GemmForTest);
HWY_EXPORT(PackRowsForTest);
HWY_EXPORT(PackTransposedForTest);

namespace {

using testing::for_each_target;

constexpr int kMaxLanes = 16;  // AVX-512: B rows must be readable to a multiple of this
constexpr float kSentinel = -777.f;

struct Case {
  int M, Nc, Kd;
};

// Sizes around the register tiles (4 x 2 and 8 x 3 vectors) and the attention's real ones.
const Case kCases[] = {{1, 1, 1},   {3, 5, 2},   {4, 8, 7},    {5, 17, 9},   {8, 48, 16},
                       {9, 49, 33}, {13, 3, 64}, {31, 100, 5}, {49, 49, 32}, {2, 200, 1}};

std::vector<float> random_floats(int64_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(-1.f, 1.f);
  return v;
}

void check_gemm(const Case& cs, bool trans_a, bool accumulate, uint64_t seed) {
  Rng rng(seed);
  const int M = cs.M, Nc = cs.Nc, Kd = cs.Kd;
  // A: [M, Kd] at a[i * lda + p], or stored transposed [Kd, M] at a[p * lda + i]; lda padded.
  const int64_t lda = (trans_a ? M : Kd) + 3;
  const std::vector<float> a = random_floats((trans_a ? Kd : M) * lda, rng);
  // B: [Kd, ldb], rows readable to a whole number of the widest vectors.
  const int64_t ldb = (Nc + kMaxLanes - 1) / kMaxLanes * kMaxLanes + kMaxLanes;
  const std::vector<float> b = random_floats(Kd * ldb, rng);
  // C: [M + 1, ldc]; columns past Nc and the extra row are sentinels that must survive.
  const int64_t ldc = Nc + 5;
  std::vector<float> c0 = random_floats((M + 1) * ldc, rng);
  for (int i = 0; i <= M; ++i)
    for (int64_t j = 0; j < ldc; ++j)
      if (i == M || j >= Nc) c0[i * ldc + j] = kSentinel;
  std::vector<float> c = c0;
  HWY_DYNAMIC_DISPATCH(GemmForTest)
  (trans_a, M, Nc, Kd, a.data(), lda, b.data(), ldb, c.data(), ldc, accumulate);
  const std::string what = "M " + std::to_string(M) + " Nc " + std::to_string(Nc) + " Kd " +
                           std::to_string(Kd) + (trans_a ? " A^T" : " A") +
                           (accumulate ? " +=" : " =");
  for (int i = 0; i <= M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j];
      if (i == M || j >= Nc) {
        ASSERT_EQ(got, kSentinel) << what << ": wrote outside C at (" << i << ", " << j << ")";
        continue;
      }
      double want = accumulate ? c0[i * ldc + j] : 0.0, mag = std::fabs(want);
      for (int p = 0; p < Kd; ++p) {
        const double ap = trans_a ? a[p * lda + i] : a[i * lda + p];
        want += ap * b[p * ldb + j];
        mag += std::fabs(ap * b[p * ldb + j]);
      }
      // float accumulation: each of Kd + 1 roundings is at most half an ulp of the running sum.
      ASSERT_NEAR(got, want, 1e-6 * (Kd + 2) * (mag + 1e-30))
          << what << " at (" << i << ", " << j << ")";
    }
}

TEST(Gemm, MatchesDoubleReferenceOnEveryTarget) {
  for_each_target([] {
    uint64_t seed = 1;
    for (const Case& cs : kCases)
      for (bool trans_a : {false, true})
        for (bool accumulate : {false, true}) check_gemm(cs, trans_a, accumulate, seed++);
  });
}

TEST(Gemm, EmptySumClearsOrKeepsC) {
  for_each_target([] {
    std::vector<float> c = {1.f, 2.f, 3.f, 4.f};
    HWY_DYNAMIC_DISPATCH(GemmForTest)(false, 2, 2, 0, nullptr, 1, nullptr, 16, c.data(), 2, true);
    EXPECT_EQ(c, (std::vector<float>{1.f, 2.f, 3.f, 4.f}));
    HWY_DYNAMIC_DISPATCH(GemmForTest)(false, 2, 2, 0, nullptr, 1, nullptr, 16, c.data(), 2, false);
    EXPECT_EQ(c, (std::vector<float>{0.f, 0.f, 0.f, 0.f}));
  });
}

TEST(GemmPacking, RowsAndTransposeAreExactCopies) {
  for_each_target([] {
    Rng rng(5);
    for (int rows : {1, 3, 4, 9, 49})
      for (int cols : {1, 4, 7, 32}) {
        const int64_t ld_src = cols + 6, ld_rows = cols + 3, ld_t = rows + 2;
        const std::vector<float> src = random_floats(rows * ld_src, rng);
        std::vector<float> packed(rows * ld_rows, kSentinel), transposed(cols * ld_t, kSentinel);
        HWY_DYNAMIC_DISPATCH(PackRowsForTest)
        (src.data(), ld_src, rows, cols, packed.data(), ld_rows);
        HWY_DYNAMIC_DISPATCH(PackTransposedForTest)
        (src.data(), ld_src, rows, cols, transposed.data(), ld_t);
        for (int m = 0; m < rows; ++m) {
          for (int c = 0; c < cols; ++c) {
            ASSERT_EQ(packed[m * ld_rows + c], src[m * ld_src + c]) << rows << "x" << cols;
            ASSERT_EQ(transposed[c * ld_t + m], src[m * ld_src + c]) << rows << "x" << cols;
          }
          for (int64_t c = cols; c < ld_rows; ++c)
            ASSERT_EQ(packed[m * ld_rows + c], 0.f) << "row padding";
        }
        for (int c = 0; c < cols; ++c)  // columns >= rows of the transpose are left alone
          for (int64_t m = rows; m < ld_t; ++m) ASSERT_EQ(transposed[c * ld_t + m], kSentinel);
      }
  });
}

}  // namespace
}  // namespace hsanet::ops
#endif  // HWY_ONCE
