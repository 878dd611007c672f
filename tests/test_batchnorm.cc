// Batch norm (ops/batchnorm.h): the double reference's gradients against central differences
// for input, gamma and beta (and the residual of the fused form), in training and evaluation
// mode; the Highway kernels against the reference on every compiled SIMD target, at channel
// counts around the vector width, row counts around the flush block and the threading grain,
// and inputs whose mean dwarfs their spread; the running statistics; determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "highway_targets.h"
#include "hwy/targets.h"
#include "ops/batchnorm.h"
#include "ops/batchnorm_ref.h"
#include "ops/parallel.h"

namespace hsanet {
namespace {

using ops::BatchNormOptions;
using testing::Arrays;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::GradCheckOptions;
using testing::random_vector;
using testing::to_float;

using testing::for_each_target;

// Tolerance scaled to the array: float rounding is relative to the largest values involved.
void expect_close_scaled(const std::vector<float>& got, const std::vector<double>& ref,
                         const std::string& what) {
  double big = 0;
  for (double v : ref) big = std::max(big, std::fabs(v));
  expect_close(got, ref, 1e-6 + 3e-5 * big, 1e-4, what);
}

struct Mode {
  bool relu, residual, batch_stats;
  std::string name() const {
    return std::string(batch_stats ? "train" : "eval") + (relu ? "+relu" : "") +
           (residual ? "+residual" : "");
  }
};
const Mode kModes[] = {{false, false, true}, {true, false, true}, {true, true, true},
                       {false, false, false}, {true, true, false}};

// Inputs: x, gamma, beta, residual (empty when unused); running stats for evaluation.
TEST(BatchNorm, ReferenceGradientsMatchFiniteDifferences) {
  const int64_t rows = 6, C = 3;
  for (const Mode& m : kModes) {
    SCOPED_TRACE(m.name());
    BatchNormOptions opt;
    opt.relu = m.relu;
    Rng rng(17);
    const std::vector<double> rm = random_vector(C, rng, 0.5);
    std::vector<double> rv(C);
    for (auto& v : rv) v = 0.5 + rng.uniform();
    Arrays in{random_vector(rows * C, rng), random_vector(C, rng), random_vector(C, rng),
              m.residual ? random_vector(rows * C, rng) : std::vector<double>{}};
    auto forward = [&](const Arrays& a, std::vector<double>* mean, std::vector<double>* invstd) {
      std::vector<double> y(rows * C);
      const double* res = m.residual ? a[3].data() : nullptr;
      if (m.batch_stats) {
        ops::ref::batchnorm_forward_train(a[0].data(), a[1].data(), a[2].data(), res, y.data(),
                                          mean->data(), invstd->data(),
                                          static_cast<double*>(nullptr),
                                          static_cast<double*>(nullptr), rows, C, opt);
      } else {
        ops::ref::batchnorm_forward_eval(a[0].data(), a[1].data(), a[2].data(), res, rm.data(),
                                         rv.data(), y.data(), rows, C, opt);
        for (int64_t c = 0; c < C; ++c)
          (*mean)[c] = rm[c], (*invstd)[c] = 1 / std::sqrt(rv[c] + opt.eps);
      }
      return y;
    };
    expect_gradients_match(
        [&](const Arrays& a) {
          std::vector<double> mean(C), invstd(C);
          return forward(a, &mean, &invstd);
        },
        [&](const Arrays& a, const std::vector<double>& G) {
          std::vector<double> mean(C), invstd(C);
          const std::vector<double> y = forward(a, &mean, &invstd);
          Arrays g{std::vector<double>(rows * C), std::vector<double>(C), std::vector<double>(C),
                   std::vector<double>(a[3].size())};
          ops::ref::batchnorm_backward(a[0].data(), y.data(), G.data(), mean.data(),
                                       invstd.data(), a[1].data(), g[0].data(),
                                       m.residual ? g[3].data() : nullptr, g[1].data(),
                                       g[2].data(), rows, C, m.batch_stats, opt);
          return g;
        },
        in, GradCheckOptions{}, "batchnorm reference " + m.name());
  }
}

// Runs the fast path for one size and mode and compares every output with the reference.
void check_fast_path(int64_t rows, int64_t C, double offset, double spread, const Mode& m) {
  SCOPED_TRACE(m.name() + " rows " + std::to_string(rows) + " C " + std::to_string(C) +
               " x ~ " + std::to_string(offset) + " +- " + std::to_string(spread));
  BatchNormOptions opt;
  opt.relu = m.relu;
  Rng rng(static_cast<uint64_t>(rows * 131 + C));
  std::vector<double> x = random_vector(rows * C, rng, spread);
  for (auto& v : x) v = static_cast<float>(v + offset);  // exactly representable in float
  const std::vector<double> gamma = random_vector(C, rng), beta = random_vector(C, rng);
  const std::vector<double> res = random_vector(rows * C, rng), dy = random_vector(rows * C, rng);
  std::vector<double> rm = random_vector(C, rng), rv(C);
  for (auto& v : rv) v = static_cast<float>(0.5 + rng.uniform());
  for (auto& v : rm) v = static_cast<float>(v + offset);
  const double* resp = m.residual ? res.data() : nullptr;

  // Reference.
  std::vector<double> y_ref(rows * C), mean_ref(C), invstd_ref(C), rm_ref = rm, rv_ref = rv;
  if (m.batch_stats) {
    ops::ref::batchnorm_forward_train(x.data(), gamma.data(), beta.data(), resp, y_ref.data(),
                                      mean_ref.data(), invstd_ref.data(), rm_ref.data(),
                                      rv_ref.data(), rows, C, opt);
  } else {
    ops::ref::batchnorm_forward_eval(x.data(), gamma.data(), beta.data(), resp, rm.data(),
                                     rv.data(), y_ref.data(), rows, C, opt);
    for (int64_t c = 0; c < C; ++c) mean_ref[c] = rm[c], invstd_ref[c] = 1 / std::sqrt(rv[c] + opt.eps);
  }
  std::vector<double> dx_ref(rows * C), dres_ref(rows * C), dg_ref(C), db_ref(C);
  ops::ref::batchnorm_backward(x.data(), y_ref.data(), dy.data(), mean_ref.data(),
                               invstd_ref.data(), gamma.data(), dx_ref.data(), dres_ref.data(),
                               dg_ref.data(), db_ref.data(), rows, C, m.batch_stats, opt);

  // Fast path.
  const std::vector<float> xf = to_float(x), gf = to_float(gamma), bf = to_float(beta),
                           rf = to_float(res), dyf = to_float(dy);
  const float* rfp = m.residual ? rf.data() : nullptr;
  std::vector<float> y(rows * C, -7.f), mean(C), invstd(C), rmf = to_float(rm), rvf = to_float(rv);
  if (m.batch_stats) {
    ops::batchnorm_forward_train(xf.data(), gf.data(), bf.data(), rfp, y.data(), mean.data(),
                                 invstd.data(), rmf.data(), rvf.data(), rows, C, opt);
    expect_close(mean, mean_ref, 1e-6 * (1 + std::fabs(offset)), 1e-5, "mean");
    expect_close(invstd, invstd_ref, 0, 1e-4, "invstd");
    expect_close(rmf, rm_ref, 1e-6 * (1 + std::fabs(offset)), 1e-5, "running mean");
    expect_close(rvf, rv_ref, 1e-6, 1e-4, "running var");
  } else {
    ops::batchnorm_forward_eval(xf.data(), gf.data(), bf.data(), rfp, rmf.data(), rvf.data(),
                                y.data(), rows, C, opt);
    mean = to_float(mean_ref), invstd = to_float(invstd_ref);
  }
  expect_close_scaled(y, y_ref, "y");
  // Backward from the fast path's own saved statistics, as in training.
  std::vector<float> dx(rows * C, -7.f), dres(rows * C, -7.f), dg(C, -7.f), db(C, -7.f);
  ops::batchnorm_backward(xf.data(), y.data(), dyf.data(), mean.data(), invstd.data(), gf.data(),
                          bf.data(), dx.data(), m.residual ? dres.data() : nullptr, dg.data(),
                          db.data(), rows, C, m.batch_stats, opt);
  expect_close_scaled(dx, dx_ref, "dx");
  expect_close_scaled(dg, dg_ref, "dgamma");
  expect_close_scaled(db, db_ref, "dbeta");
  if (m.residual) expect_close_scaled(dres, dres_ref, "dresidual");
  if (m.relu && !m.residual && m.batch_stats) {
    // The ReLU's mask recomputed from x must give the very same bits as the one read from y.
    std::vector<float> dx2(rows * C, -7.f), dg2(C, -7.f), db2(C, -7.f);
    ops::batchnorm_backward(xf.data(), nullptr, dyf.data(), mean.data(), invstd.data(), gf.data(),
                            bf.data(), dx2.data(), nullptr, dg2.data(), db2.data(), rows, C, true,
                            opt);
    EXPECT_EQ(dx2, dx);
    EXPECT_EQ(dg2, dg);
    EXPECT_EQ(db2, db);
  }
}

TEST(BatchNorm, FastPathMatchesReference) {
  for_each_target([] {
    for (const Mode& m : kModes)
      for (int64_t C : {1, 3, 16, 17, 40})
        for (int64_t rows : {2, 7, 131}) check_fast_path(rows, C, 0.0, 1.0, m);
  });
}

TEST(BatchNorm, FastPathLargeAndThreaded) {
  // rows * C above the threading grain, several flush blocks per thread.
  ASSERT_GE(3001 * 64, ops::kParallelGrain);
  check_fast_path(3001, 64, 0.0, 1.0, kModes[0]);
  check_fast_path(1000, 67, 0.0, 1.0, kModes[2]);
  check_fast_path(700, 256, 0.0, 1.0, kModes[3]);
}

TEST(BatchNorm, MeanMuchLargerThanSpread) {
  // Mean / std up to 1000: float sums of x^2 - (sum x)^2 / n would lose about 6% of the
  // variance here (1000^2 * 2^-24); the shifted sums lose nothing measurable. (Beyond this the
  // float32 mean itself, rounded at |mean| * 2^-24, limits any float32 implementation.)
  for_each_target([] {
    check_fast_path(500, 19, 100.0, 0.1, kModes[0]);
    check_fast_path(64, 16, -30.0, 0.1, kModes[1]);
  });
}

TEST(BatchNorm, RunningStatisticsUseUnbiasedVariance) {
  // One channel, x = {1, 2, 3, 4}: mean 2.5, biased var 1.25, unbiased 5/3.
  std::vector<float> x = {1, 2, 3, 4}, y(4), mean(1), invstd(1), g = {1}, b = {0};
  std::vector<float> rm = {1.f}, rv = {2.f};
  ops::batchnorm_forward_train(x.data(), g.data(), b.data(), nullptr, y.data(), mean.data(),
                               invstd.data(), rm.data(), rv.data(), 4, 1, BatchNormOptions{});
  EXPECT_FLOAT_EQ(mean[0], 2.5f);
  EXPECT_FLOAT_EQ(invstd[0], static_cast<float>(1 / std::sqrt(1.25 + 1e-5)));
  EXPECT_FLOAT_EQ(rm[0], 0.9f * 1.f + 0.1f * 2.5f);
  EXPECT_FLOAT_EQ(rv[0], static_cast<float>(0.9 * 2.0 + 0.1 * 5.0 / 3.0));
}

TEST(BatchNorm, DeterministicForAThreadCount) {
  const int64_t rows = 2000, C = 48;
  Rng rng(1);
  const std::vector<float> x = to_float(random_vector(rows * C, rng)),
                           dy = to_float(random_vector(rows * C, rng));
  const std::vector<float> g(C, 1.5f), b(C, 0.5f);
  auto run = [&] {
    std::vector<float> y(rows * C), mean(C), invstd(C), dx(rows * C), dg(C), db(C);
    ops::batchnorm_forward_train(x.data(), g.data(), b.data(), nullptr, y.data(), mean.data(),
                                 invstd.data(), nullptr, nullptr, rows, C, BatchNormOptions{});
    ops::batchnorm_backward(x.data(), y.data(), dy.data(), mean.data(), invstd.data(), g.data(),
                            b.data(), dx.data(), nullptr, dg.data(), db.data(), rows, C, true,
                            BatchNormOptions{});
    y.insert(y.end(), dx.begin(), dx.end());
    y.insert(y.end(), dg.begin(), dg.end());
    return y;
  };
  const std::vector<float> first = run();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(), first);
}

TEST(BatchNorm, BadArgumentsThrow) {
  std::vector<float> buf(16);
  EXPECT_THROW(ops::batchnorm_forward_train(buf.data(), buf.data(), buf.data(), nullptr, buf.data(),
                                            buf.data(), buf.data(), nullptr, nullptr, 1, 4,
                                            BatchNormOptions{}),
               std::invalid_argument);  // one value per channel: no variance
  EXPECT_THROW(ops::batchnorm_forward_eval(buf.data(), buf.data(), buf.data(), nullptr, buf.data(),
                                           buf.data(), buf.data(), 4, 0, BatchNormOptions{}),
               std::invalid_argument);
}

}  // namespace
}  // namespace hsanet
