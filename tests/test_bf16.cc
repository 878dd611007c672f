// bf16 mixed precision: the conversions (ops/bf16.h) against their scalar reference on every SIMD
// target, and the bf16 convolutions (ops/conv2d.h) against the double reference, within bounds
// derived from bf16's precision (docs/precision.md, "Tolerances"). They run on every CPU: where
// there are no bf16 instructions oneDNN emulates them, and the bounds are the same.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "base/random.h"
#include "gradcheck.h"
#include "highway_targets.h"
#include "autograd/functions_basic.h"
#include "autograd/functions_vision.h"
#include "ops/batchnorm.h"
#include "ops/bf16.h"
#include "ops/bf16_ref.h"
#include "ops/conv2d.h"
#include "ops/conv2d_ref.h"
#include "ops/precision.h"

namespace hsanet {
namespace {

using testing::for_each_target;
using testing::random_vector;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// ---------------------------------------------------------------- the reference's rules

TEST(Bf16Reference, RoundsToNearestTiesToEven) {
  // 1 + 2^-8 lies halfway between bf16's 1 and 1 + 2^-7: ties go to the even one (1).
  EXPECT_EQ(ops::ref::float_to_bf16(1.f + 0x1p-8f), 0x3f80);
  // 1 + 3*2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
  EXPECT_EQ(ops::ref::float_to_bf16(1.f + 3 * 0x1p-8f), 0x3f82);
  // Just above the half way rounds up, just below rounds down.
  EXPECT_EQ(ops::ref::float_to_bf16(float_of(0x3f808001u)), 0x3f81);
  EXPECT_EQ(ops::ref::float_to_bf16(float_of(0x3f807fffu)), 0x3f80);
  EXPECT_EQ(ops::ref::float_to_bf16(-1.f), 0xbf80);
  EXPECT_EQ(ops::ref::float_to_bf16(0.f), 0x0000);
  EXPECT_EQ(ops::ref::float_to_bf16(-0.f), 0x8000);
}

TEST(Bf16Reference, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ops::ref::float_to_bf16(inf), 0x7f80);
  EXPECT_EQ(ops::ref::float_to_bf16(-inf), 0xff80);
  // The largest float rounds past bf16's largest finite value (0x7f7f): to infinity.
  EXPECT_EQ(ops::ref::float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  // A NaN whose payload sits only in the dropped bits must not become infinity.
  const uint16_t nan = ops::ref::float_to_bf16(float_of(0x7f800001u));
  EXPECT_TRUE(std::isnan(ops::ref::bf16_to_float(nan)));
  EXPECT_TRUE(std::isnan(ops::ref::bf16_to_float(ops::ref::float_to_bf16(-std::nanf("")))));
  EXPECT_EQ(ops::ref::float_to_bf16(float_of(0xffffffffu)) & 0x8000, 0x8000);  // sign kept
  // Denormals round like any value (bf16 has float's exponent range).
  EXPECT_EQ(ops::ref::float_to_bf16(float_of(0x00010000u)), 0x0001);
  EXPECT_EQ(ops::ref::float_to_bf16(float_of(0x00018000u)), 0x0002);  // tie, odd -> even
  for (uint32_t b = 0; b < 0x10000u; ++b) {  // widening then narrowing gives every pattern back
    const uint16_t v = static_cast<uint16_t>(b);
    const float f = ops::ref::bf16_to_float(v);
    if (std::isnan(f)) continue;
    ASSERT_EQ(ops::ref::float_to_bf16(f), v) << b;
    ASSERT_EQ(bits_of(f), b << 16) << b;
  }
}

// ---------------------------------------------------------------- the kernels

// Values that exercise every rule: ties both ways, NaNs with payloads only in the dropped bits,
// infinities, the largest floats, denormals, zeros of both signs; then random bit patterns.
std::vector<float> awkward_values(size_t n, uint64_t seed) {
  const uint32_t fixed[] = {0x3f808000u, 0x3f818000u, 0x3f807fffu, 0x3f808001u, 0x7f800001u,
                            0xff800001u, 0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu,
                            0xff7fffffu, 0x7f7f8000u, 0x00018000u, 0x00000001u, 0x80000000u,
                            0x00000000u, 0x3f800000u, 0xbfffffffu};
  std::vector<float> v;
  for (uint32_t u : fixed) v.push_back(float_of(u));
  Rng rng(seed);
  while (v.size() < n) v.push_back(float_of(static_cast<uint32_t>(rng.next_u64())));
  v.resize(n);
  return v;
}

TEST(Bf16Convert, MatchesReferenceBitForBitOnEveryTarget) {
  for_each_target([] {
    // Sizes with and without tails, and one large enough to be split over threads.
    for (int64_t n : {1, 7, 16, 17, 33, 1000, 100003}) {
      SCOPED_TRACE("n " + std::to_string(n));
      for (int offset : {0, 1}) {  // offset 1: every vector unaligned
        const std::vector<float> x = awkward_values(static_cast<size_t>(n + offset), 7 + n);
        std::vector<uint16_t> y(x.size(), 0xdead), want(x.size(), 0xdead);
        ops::float_to_bf16(x.data() + offset, y.data() + offset, n);
        for (int64_t i = 0; i < n; ++i) want[i + offset] = ops::ref::float_to_bf16(x[i + offset]);
        ASSERT_EQ(y, want) << "narrowing, offset " << offset;
        std::vector<float> back(y.size(), -7.f), want_back(y.size(), -7.f);
        ops::bf16_to_float(y.data() + offset, back.data() + offset, n);
        for (int64_t i = 0; i < n; ++i)
          want_back[i + offset] = ops::ref::bf16_to_float(y[i + offset]);
        for (size_t i = 0; i < back.size(); ++i)
          ASSERT_EQ(bits_of(back[i]), bits_of(want_back[i])) << "widening, element " << i;
      }
    }
  });
}

TEST(Bf16Convert, RejectsNegativeSizes) {
  float f = 0;
  uint16_t b = 0;
  EXPECT_THROW(ops::float_to_bf16(&f, &b, -1), std::invalid_argument);
  EXPECT_THROW(ops::bf16_to_float(&b, &f, -1), std::invalid_argument);
}

// ---------------------------------------------------------------- bf16 convolutions

// bf16 keeps 8 significant bits: rounding a value changes it by at most u = 2^-8 of itself.
// A product of two rounded values is off by at most (1 + u)^2 - 1 = 2u + u^2 of the exact
// product, and a float32 sum of K such terms adds at most gamma_K = K 2^-24 / (1 - K 2^-24) of
// the sum of their magnitudes. So each output is within
//     (2u + u^2 + gamma_K) * sum_k |a_k b_k|
// of the exact double result, and within gamma_K * sum_k |a_k b_k| of the exact result on the
// rounded inputs. Both bounds are rigorous (not statistical), element by element.
constexpr double kU = 1.0 / 256;
double gamma_f32(int64_t k) {
  const double e = static_cast<double>(k) * 0x1p-24;
  return e / (1 - e);
}

std::vector<double> rounded(const std::vector<double>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    r[i] = ops::ref::bf16_to_float(ops::ref::float_to_bf16(static_cast<float>(v[i])));
  return r;
}
std::vector<uint16_t> to_bf16(const std::vector<double>& v) {
  std::vector<uint16_t> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = ops::ref::float_to_bf16(static_cast<float>(v[i]));
  return r;
}
std::vector<double> magnitudes(const std::vector<double>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = std::fabs(v[i]);
  return r;
}

// got within the two bounds above of exact (on the inputs) and exact_rounded (on their bf16
// roundings), given the sums of magnitudes `scale` and the reduction length k.
void expect_within_bf16_bounds(const std::vector<float>& got, const std::vector<double>& exact,
                               const std::vector<double>& exact_rounded,
                               const std::vector<double>& scale, int64_t k, const char* what) {
  ASSERT_EQ(got.size(), exact.size());
  const double loose = 2 * kU + kU * kU + gamma_f32(k), tight = gamma_f32(k);
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    // The float32 result is itself rounded once more: half an ulp of |got|.
    const double last = std::fabs(got[i]) * 0x1p-24;
    const bool ok = std::fabs(got[i] - exact[i]) <= loose * scale[i] + last &&
                    std::fabs(got[i] - exact_rounded[i]) <= tight * scale[i] + last;
    if (!ok && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: " << got[i] << " against " << exact[i]
                    << " (on bf16 inputs " << exact_rounded[i] << ", scale " << scale[i] << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " out of bounds";
}

void check_bf16_conv(const ops::Conv2dShape& s, bool with_bias) {
  SCOPED_TRACE("C" + std::to_string(s.C) + " O" + std::to_string(s.O) + " " +
               std::to_string(s.H) + "x" + std::to_string(s.W) + " k" + std::to_string(s.KH) +
               " s" + std::to_string(s.stride_h) + " p" + std::to_string(s.pad_h) + " g" +
               std::to_string(s.groups) + (with_bias ? " bias" : ""));
  Rng rng(11);
  const int64_t Cg = s.C / s.groups, OH = s.OH(), OW = s.OW();
  const size_t nx = static_cast<size_t>(s.N * s.H * s.W * s.C);
  const size_t ny = static_cast<size_t>(s.N * OH * OW * s.O);
  const size_t nw = static_cast<size_t>(s.O * Cg * s.KH * s.KW);
  const std::vector<double> x = random_vector(nx, rng), w = random_vector(nw, rng, 0.1),
                            dy = random_vector(ny, rng), b = random_vector(s.O, rng);
  const std::vector<double> xr = rounded(x), wr = rounded(w), dyr = rounded(dy);
  const std::vector<uint16_t> xb = to_bf16(x), dyb = to_bf16(dy);
  const std::vector<float> wf = testing::to_float(w), bf = testing::to_float(b);
  const double* bias = with_bias ? b.data() : nullptr;

  // Forward: K = Cg*KH*KW products per output; the bias is added exactly in both references.
  std::vector<double> y(ny), yr(ny), ys(ny);
  ops::ref::conv2d_forward<double>(s, x.data(), w.data(), bias, y.data());
  ops::ref::conv2d_forward<double>(s, xr.data(), wr.data(), bias, yr.data());
  ops::ref::conv2d_forward<double>(s, magnitudes(x).data(), magnitudes(w).data(), nullptr,
                                   ys.data());
  std::vector<float> yf(ny);
  ops::conv2d_forward_bf16(s, xb.data(), wf.data(), with_bias ? bf.data() : nullptr, yf.data(),
                           true);
  expect_within_bf16_bounds(yf, y, yr, ys, Cg * s.KH * s.KW, "forward");

  // Backward-data: K = (O/groups)*KH*KW terms per input element at most.
  std::vector<double> dx(nx), dxr(nx), dxs(nx);
  ops::ref::conv2d_backward_data<double>(s, dy.data(), w.data(), dx.data());
  ops::ref::conv2d_backward_data<double>(s, dyr.data(), wr.data(), dxr.data());
  ops::ref::conv2d_backward_data<double>(s, magnitudes(dy).data(), magnitudes(w).data(),
                                         dxs.data());
  std::vector<float> dxf(nx);
  ops::conv2d_backward_data_bf16(s, dyb.data(), wf.data(), dxf.data());
  expect_within_bf16_bounds(dxf, dx, dxr, dxs, s.O / s.groups * s.KH * s.KW, "backward-data");
  if (ops::conv2d_backward_data_accumulates(s)) {  // dx += the same product
    const std::vector<double> base = random_vector(nx, rng);
    std::vector<float> acc = testing::to_float(base);
    ops::conv2d_backward_data_bf16(s, dyb.data(), wf.data(), acc.data(), {}, /*accumulate=*/true);
    std::vector<double> sum(nx), sum_r(nx), sum_s(nx);
    for (size_t i = 0; i < nx; ++i) {
      const double b0 = static_cast<float>(base[i]);  // what acc held, exactly
      sum[i] = b0 + dx[i], sum_r[i] = b0 + dxr[i], sum_s[i] = std::fabs(b0) + dxs[i];
    }
    expect_within_bf16_bounds(acc, sum, sum_r, sum_s, s.O / s.groups + 1, "accumulated backward-data");
  } else {
    std::vector<float> acc(nx);
    EXPECT_THROW(ops::conv2d_backward_data_bf16(s, dyb.data(), wf.data(), acc.data(), {}, true),
                 std::invalid_argument);
  }

  // Backward-weights: K = N*OH*OW terms per weight; the bias gradient sums dy in bf16 (the
  // rounded dy, one rounding of u each: within u + gamma_K of the exact sum of magnitudes).
  std::vector<double> dw(nw), dwr(nw), dws(nw), db(s.O), dbr(s.O), dbs(s.O);
  ops::ref::conv2d_backward_weights<double>(s, x.data(), dy.data(), dw.data(), db.data());
  ops::ref::conv2d_backward_weights<double>(s, xr.data(), dyr.data(), dwr.data(), dbr.data());
  ops::ref::conv2d_backward_weights<double>(s, magnitudes(x).data(), magnitudes(dy).data(),
                                            dws.data(), dbs.data());
  std::vector<float> dwf(nw), dbf(s.O);
  ops::conv2d_backward_weights_bf16(s, xb.data(), dyb.data(), dwf.data(),
                                    with_bias ? dbf.data() : nullptr);
  expect_within_bf16_bounds(dwf, dw, dwr, dws, s.N * OH * OW, "backward-weights");
  if (with_bias) expect_within_bf16_bounds(dbf, db, dbr, dbs, s.N * OH * OW, "bias gradient");
}

ops::Conv2dShape shape(int64_t N, int64_t H, int64_t C, int64_t O, int64_t K, int64_t stride,
                       int64_t pad, int64_t groups = 1) {
  ops::Conv2dShape s;
  s.N = N, s.H = s.W = H, s.C = C, s.O = O, s.KH = s.KW = K;
  s.stride_h = s.stride_w = stride, s.pad_h = s.pad_w = pad, s.groups = groups;
  return s;
}

TEST(Conv2dBf16, WithinBf16BoundsOfTheDoubleReference) {
  // The shapes of a ResNet in small: the 7x7 stem, 1x1 (strided too), 3x3 (strided too), odd
  // sizes that leave vector tails, groups, with and without a bias.
  check_bf16_conv(shape(2, 15, 3, 16, 7, 2, 3), false);
  check_bf16_conv(shape(2, 9, 32, 64, 1, 1, 0), true);
  check_bf16_conv(shape(2, 9, 64, 32, 1, 2, 0), false);
  check_bf16_conv(shape(2, 8, 16, 16, 3, 1, 1), true);
  check_bf16_conv(shape(2, 9, 32, 48, 3, 2, 1), false);
  check_bf16_conv(shape(1, 7, 5, 7, 3, 1, 1), true);
  check_bf16_conv(shape(2, 6, 16, 32, 3, 1, 1, 4), false);
  // 1x1 ones large enough for oneDNN's convolution kernels instead of the matmuls (conv2d.cc's
  // choose_path: from 3136 positions forward, 12544 for the weight gradient).
  check_bf16_conv(shape(4, 56, 16, 16, 1, 1, 0), true);
  check_bf16_conv(shape(4, 56, 16, 32, 1, 2, 0), false);
  // Stage 4's 3x3 layers, which run as im2col + a bf16 matmul (forward, weight gradient).
  check_bf16_conv(shape(1, 7, 256, 16, 3, 1, 1), true);
  check_bf16_conv(shape(1, 13, 256, 16, 3, 2, 1), false);
}

TEST(Conv2dBf16, RoundsItsInputsLikeTheReference) {
  // An input whose float value is exactly halfway between two bf16 values must be rounded to
  // even, not truncated: with x = 1 + 2^-8 + 2^-16 (just above the tie) and w = 1, truncation
  // gives 1, rounding gives 1 + 2^-7. The kernel sees the caller's bf16, so this holds the
  // whole chain (ops::float_to_bf16, then the primitive's float32 output) to the rules.
  const ops::Conv2dShape s = shape(1, 1, 1, 1, 1, 1, 0);
  const float x = 1.f + 0x1p-8f + 0x1p-16f, w = 1.f;
  uint16_t xb;
  ops::float_to_bf16(&x, &xb, 1);
  float y = 0;
  ops::conv2d_forward_bf16(s, &xb, &w, nullptr, &y, false);
  EXPECT_EQ(y, 1.f + 0x1p-7f);
}

TEST(Conv2dBf16, WeightCopyFollowsTheWeightVersion) {
  // The bf16 copy of the weights is cached per (owner, version): a new version must be converted
  // again, the same version must not. Where bf16 is emulated the values must still follow the
  // version; the counts are only asserted where oneDNN's bf16 kernels run (below AVX-512 the
  // emulation rounds the weights at every call).
  const bool counted = ops::bf16_native();
  const ops::Conv2dShape s = shape(1, 4, 16, 16, 3, 1, 1);
  auto owner = std::make_shared<int>(0);
  std::vector<float> w(16 * 16 * 9, 0.5f), y(16 * 16);
  std::vector<uint16_t> x(16 * 16, ops::ref::float_to_bf16(1.f));
  ops::conv2d_forward_bf16(s, x.data(), w.data(), nullptr, y.data(), false, {owner, 1});
  const int64_t reorders = ops::conv2d_cache_stats().weight_reorders;
  ops::conv2d_forward_bf16(s, x.data(), w.data(), nullptr, y.data(), false, {owner, 1});
  if (counted) EXPECT_EQ(ops::conv2d_cache_stats().weight_reorders, reorders);
  const float centre = y[5 * 16];  // position (1, 1): all 9 taps inside, 16 channels
  EXPECT_EQ(centre, 0.5f * 9 * 16);
  std::fill(w.begin(), w.end(), 0.25f);
  ops::conv2d_forward_bf16(s, x.data(), w.data(), nullptr, y.data(), false, {owner, 2});
  if (counted) EXPECT_EQ(ops::conv2d_cache_stats().weight_reorders, reorders + 1);
  EXPECT_EQ(y[5 * 16], 0.25f * 9 * 16);
}

// The inference forward's epilogue (Conv2dEpilogue): y = relu?(conv + bias + residual?), rounded
// once to bf16. Against the double reference on the bf16 inputs e = relu?(conv(xr, wr) + b + r):
// the float32 sums are within gamma_K of the sum of magnitudes (as above), adding the bias and
// the residual rounds once more in float32 (2^-24 of the result), ReLU moves nothing closer
// together, and the last rounding to bf16 adds at most half an ulp, 2^-9 of |e| (2^-8 allowed,
// for a result that rounds across a power of two).
void check_epilogue(const ops::Conv2dShape& s, bool add, bool relu) {
  SCOPED_TRACE("C" + std::to_string(s.C) + " O" + std::to_string(s.O) + " " +
               std::to_string(s.H) + " k" + std::to_string(s.KH) + " s" +
               std::to_string(s.stride_h) + (add ? " +residual" : "") + (relu ? " relu" : ""));
  Rng rng(29);
  const int64_t K = s.C / s.groups * s.KH * s.KW;
  const size_t nx = static_cast<size_t>(s.N * s.H * s.W * s.C);
  const size_t ny = static_cast<size_t>(s.N * s.OH() * s.OW() * s.O);
  const size_t nw = static_cast<size_t>(s.O * K);
  const std::vector<double> xr = rounded(random_vector(nx, rng)),
                            wr = rounded(random_vector(nw, rng, 0.1)),
                            r = rounded(random_vector(ny, rng)), b = random_vector(s.O, rng);
  const std::vector<float> wf = testing::to_float(wr), bf = testing::to_float(b);
  std::vector<double> e(ny), scale(ny);
  ops::ref::conv2d_forward<double>(s, xr.data(), wr.data(), b.data(), e.data());
  ops::ref::conv2d_forward<double>(s, magnitudes(xr).data(), magnitudes(wr).data(), nullptr,
                                   scale.data());
  std::vector<uint16_t> y = add ? to_bf16(r) : std::vector<uint16_t>(ny, 0x7fc0);  // NaN if unread
  ops::conv2d_forward_bf16(s, to_bf16(xr).data(), wf.data(), bf.data(), y.data(),
                           ops::Conv2dEpilogue{add, relu});
  int64_t bad = 0;
  for (size_t i = 0; i < ny; ++i) {
    const double sum = static_cast<double>(static_cast<float>(b[i % s.O])) - b[i % s.O] + e[i] +
                       (add ? r[i] : 0.0);
    const double want = relu ? std::max(sum, 0.0) : sum;
    const double got = ops::ref::bf16_to_float(y[i]);
    const double bound = gamma_f32(K + 2) * (scale[i] + std::fabs(b[i % s.O]) + (add ? std::fabs(r[i]) : 0)) +
                         0x1p-8 * std::fabs(want) + 1e-30;
    if (!(std::fabs(got - want) <= bound) && bad++ < 5)
      ADD_FAILURE() << "y[" << i << "] = " << got << " against " << want << " (bound " << bound << ")";
  }
  EXPECT_EQ(bad, 0) << bad << " of " << ny << " out of bounds";
}

TEST(Conv2dBf16, InferenceEpilogueAddsTheResidualAndRectifiesOnEveryPath) {
  // One shape per forward path (conv2d.cc's choose_path in bf16): the stem on the direct
  // kernels, 1x1 as a matmul, strided 1x1 on gathered rows, 3x3, a 1x1 large enough for the
  // convolution kernels, and stage 4's strided 3x3 as im2col + matmul.
  const ops::Conv2dShape shapes[] = {shape(2, 15, 3, 16, 7, 2, 3),  shape(2, 9, 32, 64, 1, 1, 0),
                                     shape(2, 9, 64, 32, 1, 2, 0),  shape(2, 8, 16, 16, 3, 1, 1),
                                     shape(4, 56, 16, 16, 1, 1, 0), shape(1, 13, 256, 16, 3, 2, 1)};
  for (const ops::Conv2dShape& s : shapes)
    for (bool add : {false, true})
      for (bool relu : {false, true}) check_epilogue(s, add, relu);
}

TEST(Precision, ParsesNamesAndSaysWhatRunsIt) {
  EXPECT_EQ(ops::parse_precision("fp32"), ops::Precision::kF32);
  EXPECT_EQ(ops::parse_precision("bf16"), ops::Precision::kBF16);
  EXPECT_STREQ(ops::precision_name(ops::Precision::kBF16), "bf16");
  try {
    ops::parse_precision("fp16");
    FAIL() << "fp16 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("expected fp32 or bf16"), std::string::npos);
  }
  const std::string isa = ops::bf16_instruction_set();
  EXPECT_TRUE(isa == "AMX-BF16" || isa == "AVX512-BF16" || isa == "emulated") << isa;
  EXPECT_EQ(ops::bf16_native(), isa != "emulated");
}

}  // namespace
}  // namespace hsanet

namespace hsanet {
namespace {

// ---------------------------------------------------------------- batch norm on bf16 input

// The bf16 kernels widen x exactly and then compute what the float32 kernels compute, so their
// results are the float32 kernels' on the widened x to the bit, and a bf16 output or dx is that
// result rounded to nearest even. Checked on every SIMD target, with rows and channels that
// leave vector tails, with and without the fused ReLU and residual, threaded and not.
void check_batchnorm_bf16(int64_t rows, int64_t C, bool relu, bool residual) {
  SCOPED_TRACE("rows " + std::to_string(rows) + " C " + std::to_string(C) +
               (relu ? " relu" : "") + (residual ? " residual" : ""));
  Rng rng(5);
  const size_t n = static_cast<size_t>(rows * C);
  std::vector<uint16_t> xb(n);
  std::vector<float> xw(n), res(n), dy(n), gamma(C), beta(C);
  for (size_t i = 0; i < n; ++i) {
    xb[i] = ops::ref::float_to_bf16(static_cast<float>(1.5 + 2 * rng.normal()));
    xw[i] = ops::ref::bf16_to_float(xb[i]);
    res[i] = static_cast<float>(rng.normal());
    dy[i] = static_cast<float>(rng.normal());
  }
  for (int64_t c = 0; c < C; ++c)
    gamma[c] = static_cast<float>(1 + 0.2 * rng.normal()), beta[c] = static_cast<float>(0.1 * rng.normal());
  ops::BatchNormOptions opt;
  opt.relu = relu;
  const float* r = residual ? res.data() : nullptr;
  auto bits = [](const std::vector<float>& v) {
    std::vector<uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
    return b;
  };
  auto rounded = [](const std::vector<float>& v) {
    std::vector<uint16_t> b(v.size());
    for (size_t i = 0; i < v.size(); ++i) b[i] = ops::ref::float_to_bf16(v[i]);
    return b;
  };
  // Training forward: float32 y, and bf16 y (no residual: the layers that write bf16 have none).
  std::vector<float> y32(n), yb32(n), mean(C), invstd(C), meanb(C), invstdb(C);
  std::vector<float> rm(C, 0.f), rv(C, 1.f), rmb(C, 0.f), rvb(C, 1.f);
  ops::batchnorm_forward_train(xw.data(), gamma.data(), beta.data(), r, y32.data(), mean.data(),
                               invstd.data(), rm.data(), rv.data(), rows, C, opt);
  ops::batchnorm_forward_train(xb.data(), gamma.data(), beta.data(), r, yb32.data(), meanb.data(),
                               invstdb.data(), rmb.data(), rvb.data(), rows, C, opt);
  EXPECT_EQ(bits(yb32), bits(y32));
  EXPECT_EQ(bits(meanb), bits(mean));
  EXPECT_EQ(bits(invstdb), bits(invstd));
  EXPECT_EQ(bits(rvb), bits(rv));
  if (!residual) {
    std::vector<uint16_t> y16(n);
    ops::batchnorm_forward_train(xb.data(), gamma.data(), beta.data(), nullptr, y16.data(),
                                 meanb.data(), invstdb.data(), nullptr, nullptr, rows, C, opt);
    EXPECT_EQ(y16, rounded(y32));
    std::vector<float> e32(n);
    std::vector<uint16_t> e16(n);
    ops::batchnorm_forward_eval(xw.data(), gamma.data(), beta.data(), nullptr, rm.data(), rv.data(),
                                e32.data(), rows, C, opt);
    ops::batchnorm_forward_eval(xb.data(), gamma.data(), beta.data(), nullptr, rm.data(), rv.data(),
                                e16.data(), rows, C, opt);
    EXPECT_EQ(e16, rounded(e32));
  }
  // Backward: dx in bf16 is the float32 dx rounded; the other gradients are the same bits. The
  // ReLU's mask from y after a residual add, else recomputed from x.
  const float* y = relu && residual ? y32.data() : nullptr;
  std::vector<float> dx32(n), dres32(n), dg32(C), db32(C), dres(n), dg(C), db(C);
  std::vector<uint16_t> dx16(n);
  float* dr32 = residual ? dres32.data() : nullptr;
  float* dr = residual ? dres.data() : nullptr;
  ops::batchnorm_backward(xw.data(), y, dy.data(), mean.data(), invstd.data(), gamma.data(),
                          beta.data(), dx32.data(), dr32, dg32.data(), db32.data(), rows, C, true, opt);
  ops::batchnorm_backward(xb.data(), y, dy.data(), mean.data(), invstd.data(), gamma.data(),
                          beta.data(), dx16.data(), dr, dg.data(), db.data(), rows, C, true, opt);
  EXPECT_EQ(dx16, rounded(dx32));
  EXPECT_EQ(bits(dg), bits(dg32));
  EXPECT_EQ(bits(db), bits(db32));
  if (residual) EXPECT_EQ(bits(dres), bits(dres32));
}

TEST(BatchNormBf16, BitForBitTheFloat32KernelsOnTheWidenedInputOnEveryTarget) {
  testing::for_each_target([] {
    for (bool relu : {false, true})
      for (bool residual : {false, true}) {
        if (residual && !relu) continue;  // the residual comes with the fused ReLU
        check_batchnorm_bf16(37, 21, relu, residual);
        check_batchnorm_bf16(4 * 28 * 28, 64, relu, residual);  // threaded
      }
  });
}

// ---------------------------------------------------------------- bf16 tensors

TEST(TensorBf16, OnlyTheOpsThatReadBf16AcceptIt) {
  const Tensor t = Tensor::empty_bf16({2, 3, 3, 4});
  EXPECT_TRUE(t.is_bf16());
  EXPECT_EQ(t.numel(), 72);
  try {
    (void)t.data();
    FAIL() << "data() of a bf16 tensor did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16 tensor [2, 3, 3, 4]"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)Tensor::zeros({2}).bf16_data(), std::logic_error);
  EXPECT_TRUE(t.detach().is_bf16());
  EXPECT_TRUE(t.view({72}).is_bf16());
}

TEST(TensorBf16, Float32WidensExactlyAndPassesTheGradientThrough) {
  Rng rng(3);
  Tensor x = Tensor::randn({2, 4, 4, 8}, rng);
  Tensor w = Tensor::randn({8, 8, 1, 1}, rng).set_requires_grad(true);
  Conv2dArgs a;
  a.precision = ops::Precision::kBF16;
  a.bf16_output = true;
  const Tensor y = conv2d(x, w, Tensor(), a);  // bf16
  ASSERT_TRUE(y.is_bf16());
  const Tensor f = float32(y);
  ASSERT_FALSE(f.is_bf16());
  for (int64_t i = 0; i < y.numel(); ++i)
    ASSERT_EQ(f.data()[i], ops::ref::bf16_to_float(y.bf16_data()[i]));
  // d(sum f)/dw through the bf16 convolution: the float32 gradient (ones) passes through
  // float32(), and the convolution's backward takes it: dw[o, c] = sum over positions of x_bf16.
  sum(f).backward();
  std::vector<uint16_t> xb(static_cast<size_t>(x.numel()));
  ops::float_to_bf16(x.data(), xb.data(), x.numel());
  for (int64_t c = 0; c < 8; ++c) {
    double want = 0;
    for (int64_t p = 0; p < 32; ++p) want += ops::ref::bf16_to_float(xb[p * 8 + c]);
    EXPECT_NEAR(w.grad().data()[c], want, 1e-4 * (1 + std::fabs(want))) << c;
  }
}

}  // namespace
}  // namespace hsanet
