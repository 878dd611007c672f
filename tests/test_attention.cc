// The attention core (ops/attention.h):
//  - the relative-position indexing, by hand-computed logits on tiny maps, and against a
//    transliteration of the PyTorch peer's rel_to_abs pad/reshape trick;
//  - the double reference's gradients (q, k, v, rel_height, rel_width) against central
//    differences, on square, non-square and 1xN maps, several head counts, global and local
//    (including windows larger than the map);
//  - the Highway float kernels against the double reference, on every compiled SIMD target,
//    at inputs over several magnitudes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "highway_targets.h"
#include "hwy/targets.h"
#include "ops/attention.h"
#include "ops/attention_window.h"
#include "ops/attention_ref.h"
#include "ops/parallel.h"

namespace hsanet {
namespace {

using ops::AttentionDims;
using testing::Arrays;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::GradCheckOptions;
using testing::random_vector;

using testing::for_each_target;

AttentionDims make_dims(int B, int H, int W, int heads, int d, int window) {
  AttentionDims dims;
  dims.batch = B, dims.height = H, dims.width = W, dims.heads = heads, dims.head_dim = d;
  dims.window = window;
  dims.ld = 3 * heads * d;  // q, k, v read in place from the fused qkv [B, H, W, 3C]
  return dims;
}

std::string describe(const AttentionDims& g) {
  return std::to_string(g.height) + "x" + std::to_string(g.width) + " heads " +
         std::to_string(g.heads) + " d " + std::to_string(g.head_dim) + " window " +
         std::to_string(g.window) + " batch " + std::to_string(g.batch);
}

// The reference as a function of (qkv, rel_h, rel_w) -> out [rows, C], for the gradient
// checker (out and dout are dense here whatever ld_out the fast path is given).
std::vector<double> ref_forward(AttentionDims g, const Arrays& in,
                                std::vector<double>* probs = nullptr) {
  g.ld_out = 0;
  const int C = g.channels();
  std::vector<double> out(int64_t(g.batch) * g.positions() * C);
  if (probs) probs->assign(g.probs_size(), 0.0);
  ops::ref::attention_forward<double>(g, in[0].data(), in[0].data() + C, in[0].data() + 2 * C,
                                      in[1].data(), in[2].data(), out.data(),
                                      probs ? probs->data() : nullptr);
  return out;
}

Arrays ref_backward(AttentionDims g, const Arrays& in, const std::vector<double>& G) {
  g.ld_out = 0;
  const int C = g.channels();
  std::vector<double> probs;
  ref_forward(g, in, &probs);
  Arrays grads{std::vector<double>(in[0].size()), std::vector<double>(in[1].size()),
               std::vector<double>(in[2].size())};
  double* dqkv = grads[0].data();
  ops::ref::attention_backward<double>(g, in[0].data(), in[0].data() + C, in[0].data() + 2 * C,
                                       in[1].data(), in[2].data(), probs.data(), G.data(), dqkv,
                                       dqkv + C, dqkv + 2 * C, grads[1].data(), grads[2].data());
  return grads;
}

Arrays random_inputs(const AttentionDims& g, Rng& rng, double scale = 1.0) {
  const int64_t rows = int64_t(g.batch) * g.positions();
  return {random_vector(rows * 3 * g.channels(), rng, scale),
          random_vector(int64_t(g.rel_rows_h()) * g.head_dim, rng, scale),
          random_vector(int64_t(g.rel_rows_w()) * g.head_dim, rng, scale)};
}

// ---------------------------------------------------------------------------------------------
// Relative-position indexing by hand.
// ---------------------------------------------------------------------------------------------

// With d = 1, q = 1 (scale 1/sqrt(1) = 1) and k = 0, the logits are the relative terms alone;
// rel_h[i] = 10 i and rel_w[j] = j make the height and width contributions readable digits.
// logit(log P) is known up to a per-row constant, so rows are compared relative to key 0.
std::vector<double> logits_from_probs(const std::vector<double>& P, int rows, int keys, int m0) {
  std::vector<double> out(P.size());
  for (int n = 0; n < rows; ++n)
    for (int m = 0; m < keys; ++m)
      out[n * keys + m] =
          P[n * keys + m] > 0 ? std::log(P[n * keys + m]) - std::log(P[n * keys + m0]) : -INFINITY;
  return out;
}

// The PyTorch peer's rel_to_abs, transliterated: [L, 2L-1] relative -> [L, L] absolute by
// padding one column, flattening, padding L-1 and reshaping to [L+1, 2L-1].
std::vector<double> peer_rel_to_abs(const std::vector<double>& x, int L) {
  std::vector<double> flat;
  for (int i = 0; i < L; ++i) {
    for (int j = 0; j < 2 * L - 1; ++j) flat.push_back(x[i * (2 * L - 1) + j]);
    flat.push_back(0.0);  // F.pad(x, (0, 1))
  }
  for (int i = 0; i < L - 1; ++i) flat.push_back(0.0);  // F.pad(x, (0, L - 1))
  std::vector<double> out(L * L);
  for (int i = 0; i < L; ++i)  // x.reshape(L + 1, 2L - 1)[:L, L - 1:]
    for (int j = 0; j < L; ++j) out[i * L + j] = flat[i * (2 * L - 1) + (L - 1) + j];
  return out;
}

TEST(AttentionIndexing, WindowWalkVisitsExactlyTheValidSlotsInOrder) {
  // The kernels walk the window with for_each_window_key, the reference indexes it with
  // key_slot: both must name the same keys and rel rows, slot by slot.
  for (int K : {1, 3, 5, 7, 9})
    for (int H : {1, 2, 5, 9})
      for (int W : {1, 4, 7})
        for (int x = 0; x < H; ++x)
          for (int y = 0; y < W; ++y) {
            std::vector<int> walked;
            ops::for_each_window_key(H, W, K, x, y, [&](int i, int j, int x2, int y2) {
              const ops::KeySlot s = ops::key_slot(H, W, K, x, y, i * K + j);
              EXPECT_TRUE(s.valid);
              EXPECT_EQ(s.key, x2 * W + y2);
              EXPECT_EQ(s.row_h, i);
              EXPECT_EQ(s.row_w, j);
              walked.push_back(i * K + j);
            });
            std::vector<int> valid;
            for (int m = 0; m < K * K; ++m)
              if (ops::key_slot(H, W, K, x, y, m).valid) valid.push_back(m);
            ASSERT_EQ(walked, valid) << "K " << K << " map " << H << "x" << W << " query " << x << "," << y;
          }
}

TEST(AttentionIndexing, GlobalMatchesHandComputedLogits) {
  const int H = 2, W = 3;
  AttentionDims g = make_dims(1, H, W, 1, 1, 0);
  // qkv rows [q, k, v] per position; q = 1, k = 0, v = 0.
  Arrays in{std::vector<double>(H * W * 3, 0.0), {0, 10, 20}, {0, 1, 2, 3, 4}};
  for (int n = 0; n < H * W; ++n) in[0][n * 3] = 1.0;
  // logit((x, y), (x', y')) = 10 (x' - x + 1) + (y' - y + 2); rows: queries, columns: keys,
  // both in the order (0,0) (0,1) (0,2) (1,0) (1,1) (1,2).
  const std::vector<double> hand = {
      12, 13, 14, 22, 23, 24,  //
      11, 12, 13, 21, 22, 23,  //
      10, 11, 12, 20, 21, 22,  //
      2,  3,  4,  12, 13, 14,  //
      1,  2,  3,  11, 12, 13,  //
      0,  1,  2,  10, 11, 12,  //
  };
  // The peer's construction: width logits rel_to_abs(q rel_w^T) per map row, height logits
  // rel_to_abs(q rel_h^T) per map column, added by broadcasting.
  std::vector<double> peer(36);
  const std::vector<double> rw_rel = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4};  // [W, 2W-1]
  const std::vector<double> rh_rel = {0, 10, 20, 0, 10, 20};                         // [H, 2H-1]
  const std::vector<double> lw = peer_rel_to_abs(rw_rel, W);                         // [y, y']
  const std::vector<double> lh = peer_rel_to_abs(rh_rel, H);                         // [x, x']
  for (int x = 0; x < H; ++x)
    for (int y = 0; y < W; ++y)
      for (int x2 = 0; x2 < H; ++x2)
        for (int y2 = 0; y2 < W; ++y2)
          peer[(x * W + y) * 6 + x2 * W + y2] = lw[y * W + y2] + lh[x * H + x2];
  auto relative = [](std::vector<double> v) {
    for (int n = 0; n < 6; ++n)
      for (int m = 5; m >= 0; --m) v[n * 6 + m] -= v[n * 6];
    return v;
  };
  for (int i = 0; i < 36; ++i) ASSERT_EQ(peer[i], hand[i]) << "peer rel_to_abs, element " << i;

  std::vector<double> P;
  ref_forward(g, in, &P);
  const std::vector<double> got = logits_from_probs(P, 6, 6, 0);
  const std::vector<double> want = relative(hand);
  for (int i = 0; i < 36; ++i) EXPECT_NEAR(got[i], want[i], 1e-9) << "reference, element " << i;

  for_each_target([&] {
    std::vector<float> qkv = testing::to_float(in[0]), rh = testing::to_float(in[1]),
                       rw = testing::to_float(in[2]), out(6), pf(36);
    ops::attention_forward(g, qkv.data(), qkv.data() + 1, qkv.data() + 2, rh.data(), rw.data(),
                           out.data(), pf.data());
    const std::vector<double> fast = logits_from_probs(testing::to_double(pf), 6, 6, 0);
    for (int i = 0; i < 36; ++i) EXPECT_NEAR(fast[i], want[i], 1e-3) << "fast, element " << i;
  });
}

TEST(AttentionIndexing, LocalWindowMatchesHandComputedLogits) {
  // 3x3 map, K = 3 (r = 1): slot (i, j) of query (x, y) is key (x + i - 1, y + j - 1) and
  // reads rel_h[i], rel_w[j]: logit = 10 i + j. Slots outside the map take probability 0.
  const int H = 3, W = 3, K = 3;
  AttentionDims g = make_dims(1, H, W, 1, 1, K);
  Arrays in{std::vector<double>(H * W * 3, 0.0), {0, 10, 20}, {0, 1, 2}};
  for (int n = 0; n < H * W; ++n) in[0][n * 3] = 1.0;
  std::vector<double> P;
  ref_forward(g, in, &P);
  // Query (0, 0): only slots (1,1) (1,2) (2,1) (2,2) are on the map: logits 11 12 21 22.
  const std::vector<double> corner = {0, 0, 0, 0, 11, 12, 0, 21, 22};
  const std::vector<bool> corner_valid = {false, false, false, false, true,
                                          true,  false, true,  true};
  // Query (1, 1), the centre: every slot is valid, logit 10 i + j.
  std::vector<float> pf(P.size()), qkv = testing::to_float(in[0]), rh = testing::to_float(in[1]),
                                   rw = testing::to_float(in[2]), out(H * W);
  auto check = [&](const std::vector<double>& probs, double tol, const char* what) {
    for (int s = 0; s < 9; ++s) {
      if (!corner_valid[s]) {
        EXPECT_EQ(probs[s], 0.0) << what << ": masked slot " << s << " of query (0,0)";
        continue;
      }
      EXPECT_NEAR(std::log(probs[s]) - std::log(probs[4]), corner[s] - corner[4], tol)
          << what << ": slot " << s << " of query (0,0)";
    }
    const double* centre = probs.data() + 4 * 9;
    for (int s = 0; s < 9; ++s)
      EXPECT_NEAR(std::log(centre[s]) - std::log(centre[0]), 10 * (s / 3) + s % 3, tol)
          << what << ": slot " << s << " of query (1,1)";
  };
  check(P, 1e-9, "reference");
  for_each_target([&] {
    ops::attention_forward(g, qkv.data(), qkv.data() + 1, qkv.data() + 2, rh.data(), rw.data(),
                           out.data(), pf.data());
    check(testing::to_double(pf), 1e-3, "fast");
  });
}

// ---------------------------------------------------------------------------------------------
// Reference gradients against central differences (double).
// ---------------------------------------------------------------------------------------------

struct Shape5 {
  int B, H, W, heads, d, window;
};

const Shape5 kGradShapes[] = {
    {1, 3, 3, 2, 4, 0},  // square
    {2, 5, 4, 1, 3, 0},  // non-square, batch 2
    {1, 7, 9, 2, 2, 0},  // odd, non-square
    {1, 1, 6, 3, 2, 0},  // 1 x N
    {1, 5, 1, 1, 3, 0},  // N x 1
    {1, 4, 5, 2, 3, 3},  // local, window inside the map
    {2, 3, 3, 1, 2, 5},  // local, window larger than the map
    {1, 2, 6, 2, 2, 7},  // local, window larger than both sides
    {1, 1, 5, 1, 3, 3},  // local on a 1 x N map
};

TEST(AttentionReference, GradientsMatchFiniteDifferences) {
  Rng rng(11);
  for (const Shape5& s : kGradShapes) {
    const AttentionDims g = make_dims(s.B, s.H, s.W, s.heads, s.d, s.window);
    GradCheckOptions opt;
    opt.max_points = 120;
    expect_gradients_match(
        [&](const Arrays& in) { return ref_forward(g, in); },
        [&](const Arrays& in, const std::vector<double>& G) { return ref_backward(g, in, G); },
        random_inputs(g, rng), opt, describe(g));
  }
}

// ---------------------------------------------------------------------------------------------
// The Highway float path against the double reference.
// ---------------------------------------------------------------------------------------------

struct FastResult {
  std::vector<float> out, probs, dqkv, drh, drw;
};

FastResult run_fast(const AttentionDims& g, const Arrays& in, const std::vector<double>& G,
                    bool backward = true) {
  const int C = g.channels();
  const int64_t ldo = g.out_stride();
  const int64_t rows = int64_t(g.batch) * g.positions();
  FastResult r;
  const std::vector<float> qkv = testing::to_float(in[0]), rh = testing::to_float(in[1]),
                           rw = testing::to_float(in[2]);
  r.out.assign(rows * ldo, -7.f);  // sentinel in the padding: must stay untouched
  r.probs.assign(g.probs_size(), -7.f);
  ops::attention_forward(g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(), rw.data(),
                         r.out.data(), r.probs.data());
  if (!backward) return r;
  std::vector<float> gout(rows * ldo, 0.f);
  for (int64_t i = 0; i < rows; ++i)
    for (int c = 0; c < C; ++c) gout[i * ldo + c] = static_cast<float>(G[i * C + c]);
  r.dqkv.assign(qkv.size(), -7.f);
  r.drh.assign(rh.size(), -7.f);
  r.drw.assign(rw.size(), -7.f);
  ops::attention_backward(g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(), rw.data(),
                          r.probs.data(), gout.data(), r.dqkv.data(), r.dqkv.data() + C,
                          r.dqkv.data() + 2 * C, r.drh.data(), r.drw.data());
  return r;
}

// out [rows, ld_out] -> [rows, C]
std::vector<float> unpad(const std::vector<float>& v, int64_t rows, int64_t ld, int C) {
  std::vector<float> out(rows * C);
  for (int64_t i = 0; i < rows; ++i)
    for (int c = 0; c < C; ++c) out[i * C + c] = v[i * ld + c];
  return out;
}

void expect_fast_matches_reference(const AttentionDims& g, double scale, uint64_t seed) {
  Rng rng(seed);
  const Arrays in = random_inputs(g, rng, scale);
  const std::string what = describe(g) + " scale " + std::to_string(scale);
  // The reference sees exactly the float inputs, so only the kernels' arithmetic differs.
  Arrays inf;
  for (const auto& a : in) inf.push_back(testing::to_double(testing::to_float(a)));
  const int C = g.channels();
  const int64_t rows = int64_t(g.batch) * g.positions();
  const std::vector<double> G = random_vector(rows * C, rng);
  std::vector<double> P;
  const std::vector<double> out = ref_forward(g, inf, &P);
  const Arrays grads = ref_backward(g, inf, G);
  const FastResult r = run_fast(g, in, G);
  const int64_t ldo = g.out_stride();
  // Logits grow like scale^2 * sqrt(d): float rounding of the logits moves P relatively by
  // about that times 1e-7, and every output and gradient inherits it.
  const double mag = std::max(1.0, scale * scale * std::sqrt(double(g.head_dim)));
  const double atol = 2e-5 * mag * std::max(1.0, scale), rtol = 1e-3;
  expect_close(unpad(r.out, rows, ldo, C), out, atol, rtol, what + " out");
  expect_close(r.probs, P, 2e-6 * mag, rtol, what + " probs");
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = C; c < ldo; ++c) ASSERT_EQ(r.out[i * ldo + c], -7.f) << what << " padding";
  // Gradients scale like scale^2 for qkv and like scale for the tables; tolerances follow.
  const double gtol = atol * std::max(1.0, scale) * 4;
  expect_close(r.dqkv, grads[0], gtol, rtol, what + " d(qkv)");
  expect_close(r.drh, grads[1], gtol * 4, rtol, what + " d(rel_height)");
  expect_close(r.drw, grads[2], gtol * 4, rtol, what + " d(rel_width)");
}

const Shape5 kFastShapes[] = {
    {2, 4, 4, 2, 16, 0},  // whole vectors of d: q/k/v used in place
    {1, 5, 4, 2, 5, 0},   // d not a multiple of the vector: padded copies
    {2, 7, 9, 3, 8, 0},   // odd non-square map, 3 heads
    {1, 1, 7, 2, 17, 0},  // 1 x N
    {1, 9, 1, 1, 4, 0},   // N x 1
    {1, 7, 7, 4, 32, 0},  // conv5-like
    {1, 5, 6, 2, 16, 3},  // local
    {2, 6, 5, 2, 7, 5},   // local, odd d
    {1, 3, 4, 1, 16, 7},  // local window larger than the map
    {1, 1, 9, 2, 3, 3},   // local 1 x N
    {1, 9, 9, 2, 16, 7},  // local, K < H and W
};

TEST(AttentionFast, MatchesReferenceOnEveryTarget) {
  for_each_target([] {
    uint64_t seed = 21;
    for (const Shape5& s : kFastShapes)
      expect_fast_matches_reference(make_dims(s.B, s.H, s.W, s.heads, s.d, s.window), 1.0, seed++);
  });
}

TEST(AttentionFast, StaleNonFiniteScratchDoesNotLeakIntoTheNextCall) {
  // The per-thread scratch is reused between calls without clearing, and a backward can find
  // it as the previous backward left it (or fresh from the allocator, holding anything). A
  // backward whose dout holds NaN leaves NaN in the band's slack past the N keys; the next
  // backward's lanes past N must be kept out of every sum (0 * NaN is NaN), or a query row's
  // gradient turns NaN. The clean backward must give exactly the bits of a fresh run.
  const int saved = ops::num_threads();
  ops::set_num_threads(1);  // one thread: the calls below reuse exactly the same scratch
  for_each_target([] {
    for (int window : {0, 3}) {
      const AttentionDims g = make_dims(1, 7, 7, 4, 32, window);
      Rng rng(31);
      const Arrays in = random_inputs(g, rng);
      const int C = g.channels();
      const int64_t rows = g.positions();
      const std::vector<double> G = random_vector(rows * C, rng);
      const FastResult fresh = run_fast(g, in, G);  // forward then backward: the usual order
      const std::vector<float> qkv = testing::to_float(in[0]), rh = testing::to_float(in[1]),
                               rw = testing::to_float(in[2]);
      std::vector<float> gout(rows * C, std::numeric_limits<float>::quiet_NaN());
      std::vector<float> dqkv(qkv.size()), drh(rh.size()), drw(rw.size());
      auto backward = [&] {
        ops::attention_backward(g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(),
                                rw.data(), fresh.probs.data(), gout.data(), dqkv.data(),
                                dqkv.data() + C, dqkv.data() + 2 * C, drh.data(), drw.data());
      };
      backward();  // NaN in, NaN left in the scratch
      ASSERT_TRUE(std::isnan(drh[0])) << "the poisoning call must see its NaN";
      for (int64_t i = 0; i < rows * C; ++i) gout[i] = static_cast<float>(G[i]);
      backward();  // no forward in between to overwrite the scratch
      EXPECT_EQ(dqkv, fresh.dqkv) << "window " << window;
      EXPECT_EQ(drh, fresh.drh) << "window " << window;
      EXPECT_EQ(drw, fresh.drw) << "window " << window;
    }
  });
  ops::set_num_threads(saved);
}

TEST(AttentionFast, MatchesReferenceOverMagnitudes) {
  uint64_t seed = 41;
  for (double scale : {1e-3, 0.1, 1.0, 3.0})
    for (int window : {0, 3}) {
      AttentionDims g = make_dims(2, 6, 5, 2, 16, window);
      expect_fast_matches_reference(g, scale, seed++);
    }
}

TEST(AttentionFast, BotnetShape) {
  // One image of the 14x14 conv5 shape with all 4 heads of 128 channels.
  expect_fast_matches_reference(make_dims(1, 14, 14, 4, 128, 0), 1.0, 77);
}

TEST(AttentionFast, OutputStrideAndPartialGradients) {
  // out/dout with a leading dimension wider than C; only some gradients requested.
  AttentionDims g = make_dims(1, 4, 3, 2, 8, 0);
  g.ld_out = 2 * g.channels() + 3;
  expect_fast_matches_reference(g, 1.0, 5);
  for (int window : {0, 3}) {
    g.window = window;
    Rng rng(6);
    const Arrays in = random_inputs(g, rng);
    const int C = g.channels();
    const int64_t rows = int64_t(g.batch) * g.positions();
    const std::vector<double> G = random_vector(rows * C, rng);
    const FastResult full = run_fast(g, in, G);
    std::vector<float> gout(rows * g.ld_out, 0.f);
    for (int64_t i = 0; i < rows; ++i)
      for (int c = 0; c < C; ++c) gout[i * g.ld_out + c] = static_cast<float>(G[i * C + c]);
    const std::vector<float> qkv = testing::to_float(in[0]), rh = testing::to_float(in[1]),
                             rw = testing::to_float(in[2]);
    // Each gradient alone must equal the one computed together with all others.
    for (int which = 0; which < 5; ++which) {
      std::vector<float> d(qkv.size(), 0.f), drh(rh.size(), 0.f), drw(rw.size(), 0.f);
      ops::attention_backward(g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(),
                              rw.data(), full.probs.data(), gout.data(),
                              which == 0 ? d.data() : nullptr, which == 1 ? d.data() + C : nullptr,
                              which == 2 ? d.data() + 2 * C : nullptr,
                              which == 3 ? drh.data() : nullptr, which == 4 ? drw.data() : nullptr);
      for (int64_t i = 0; i < rows; ++i)
        for (int c = 0; c < C; ++c) {
          if (which > 2) break;
          const int64_t at = i * 3 * C + which * C + c;
          ASSERT_EQ(d[at], full.dqkv[at]) << "gradient " << which << " alone, window " << window;
        }
      if (which == 3) {
        ASSERT_EQ(drh, full.drh) << "rel_height alone, window " << window;
      }
      if (which == 4) {
        ASSERT_EQ(drw, full.drw) << "rel_width alone, window " << window;
      }
    }
  }
}

TEST(AttentionFast, SameBitsForAnyThreadCount) {
  // Heads are independent and the tables' gradient is summed in (image, head) order, so the
  // thread count and the schedule must not change a single bit.
  const int saved = ops::num_threads();
  for (int window : {0, 3}) {
    const AttentionDims g = make_dims(3, 6, 6, 4, 16, window);
    Rng rng(8);
    const Arrays in = random_inputs(g, rng);
    const std::vector<double> G =
        random_vector(int64_t(g.batch) * g.positions() * g.channels(), rng);
    ops::set_num_threads(2);
    const FastResult a = run_fast(g, in, G), b = run_fast(g, in, G);
    ops::set_num_threads(1);
    const FastResult c = run_fast(g, in, G);
    ops::set_num_threads(3);
    const FastResult e = run_fast(g, in, G);
    for (const FastResult* r : {&b, &c, &e}) {
      EXPECT_EQ(a.out, r->out) << "window " << window;
      EXPECT_EQ(a.dqkv, r->dqkv) << "window " << window;
      EXPECT_EQ(a.drh, r->drh) << "window " << window;
      EXPECT_EQ(a.drw, r->drw) << "window " << window;
    }
  }
  ops::set_num_threads(saved);
}

TEST(AttentionFast, LargeLogitsStayFinite) {
  // Inputs of size 30 give logits in the thousands: the softmax's max shift must hold.
  const AttentionDims g = make_dims(1, 5, 5, 1, 16, 0);
  Rng rng(9);
  const Arrays in = random_inputs(g, rng, 30.0);
  const std::vector<double> G = random_vector(int64_t(g.positions()) * g.channels(), rng);
  const FastResult r = run_fast(g, in, G);
  for (float v : r.out) ASSERT_TRUE(std::isfinite(v));
  for (float v : r.probs) ASSERT_TRUE(std::isfinite(v));
  for (float v : r.dqkv) ASSERT_TRUE(std::isfinite(v));
}

TEST(AttentionDimsCheck, RejectsImpossibleShapes) {
  EXPECT_THROW(ops::check_attention_dims(make_dims(1, 4, 4, 0, 8, 0)), std::invalid_argument);
  EXPECT_THROW(ops::check_attention_dims(make_dims(1, 4, 4, 2, 8, 4)), std::invalid_argument);
  EXPECT_THROW(ops::check_attention_dims(make_dims(1, 0, 4, 2, 8, 0)), std::invalid_argument);
  AttentionDims g = make_dims(1, 4, 4, 2, 8, 0);
  g.ld = 8;  // narrower than C = 16
  EXPECT_THROW(ops::check_attention_dims(g), std::invalid_argument);
  EXPECT_NO_THROW(ops::check_attention_dims(make_dims(1, 4, 4, 2, 8, 3)));
}

}  // namespace
}  // namespace hsanet
