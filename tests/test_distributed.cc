// Data-parallel pieces that run in one process: the loader's sharding (the ranks' shares of a
// step are exactly the one-process batch), the gradient buckets, the engine's gradient-ready
// hook, and synchronised batch norm's split-phase path (with a one-process sum it must give the
// single-pass kernel's output, running statistics and gradients). test_distributed_mpi checks
// the same across two processes under mpirun.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <tuple>

#include "autograd/functions_basic.h"
#include "autograd/functions_vision.h"
#include "autograd/grad_hooks.h"
#include "base/random.h"
#include "data/loader.h"
#include "models/resnet.h"
#include "nn/data_parallel.h"
#include "nn/distributed.h"
#include "nn/layers.h"
#include "nn/sync_batch_norm.h"
#include "nn/train_step.h"
#include "test_train_util.h"

namespace hsanet {
namespace {

using train::testing::TempDir;

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.numel()); }

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.normal();
  return t;
}

TEST(DistributedLoader, RanksShareEveryGlobalBatchExactly) {
  TempDir tmp;
  train::testing::copy_faces(tmp / "faces", 2);  // 20 images
  data::ImageFolder folder = data::ImageFolder::open(tmp / "faces", {}, std::cerr);
  std::vector<int> all(folder.size());
  for (int i = 0; i < folder.size(); ++i) all[i] = i;
  data::TransformConfig tc = data::eval_transform_config(8);
  const data::LoaderOptions base{.batch_size = 7, .shuffle = true, .drop_last = false, .seed = 3, .workers = 0};
  data::DataLoader single(folder, all, data::Transform(tc), base);
  for (int world : {2, 3}) {
    std::vector<std::unique_ptr<data::DataLoader>> ranks;
    for (int r = 0; r < world; ++r) {
      data::LoaderOptions o = base;
      o.rank = r, o.world_size = world;
      ranks.push_back(std::make_unique<data::DataLoader>(folder, all, data::Transform(tc), o));
      EXPECT_EQ(ranks.back()->batches_per_epoch(), single.batches_per_epoch());
      ranks.back()->start_epoch(1);
    }
    single.start_epoch(1);
    data::Batch whole;
    while (single.next(whole)) {
      std::vector<int> joined;
      std::vector<float> pixels;
      for (int r = 0; r < world; ++r) {
        data::Batch part;
        ASSERT_TRUE(ranks[r]->next(part));
        EXPECT_EQ(part.global_size, static_cast<int>(whole.indices.size()));
        joined.insert(joined.end(), part.indices.begin(), part.indices.end());
        const std::vector<float> v = values(part.images);
        pixels.insert(pixels.end(), v.begin(), v.end());
        // Shares differ by at most one sample.
        EXPECT_LE(std::abs(static_cast<int>(part.indices.size()) * world - static_cast<int>(whole.indices.size())),
                  world);
      }
      EXPECT_EQ(joined, whole.indices) << "world " << world;
      EXPECT_EQ(pixels, values(whole.images)) << "the same augmentation whatever the rank";
    }
  }
  data::LoaderOptions bad = base;
  bad.rank = 2, bad.world_size = 2;
  EXPECT_THROW(data::DataLoader(folder, all, data::Transform(tc), bad), std::invalid_argument);
}

TEST(GradientReducer, BucketsCoverEveryParameterOnceInReverseOrder) {
  nn::NamedTensors params;
  for (int i = 0; i < 5; ++i) params.push_back({"p" + std::to_string(i), Tensor::zeros({1000}).set_requires_grad()});
  nn::LocalCommunicator local;
  nn::GradientReducer reducer(local, params, /*bucket_bytes=*/8000);  // two parameters a bucket
  ASSERT_EQ(reducer.num_buckets(), 3);
  EXPECT_EQ(reducer.bucket(0), (std::vector<int>{4, 3}));
  EXPECT_EQ(reducer.bucket(1), (std::vector<int>{2, 1}));
  EXPECT_EQ(reducer.bucket(2), (std::vector<int>{0}));
}

TEST(GradientReducer, OneProcessScalesByWeightAndFillsMissingGradients) {
  Tensor a = random_tensor({3, 4}, 1).set_requires_grad();
  Tensor b = random_tensor({4}, 2).set_requires_grad();
  nn::LocalCommunicator local;
  nn::GradientReducer reducer(local, {{"a", a}, {"b", b}});
  reducer.begin_step(0.5);
  Tensor y = sum(mul(a, a));  // da = 2a; b unused
  y.backward();
  const std::vector<float> expected = [&] {
    std::vector<float> v = values(a);
    for (float& x : v) x = 0.5f * 2.f * x;
    return v;
  }();
  reducer.finish_step();
  ASSERT_TRUE(b.grad().defined());
  EXPECT_EQ(values(b.grad()), std::vector<float>(4, 0.f));
  const std::vector<float> got = values(a.grad());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], expected[i]);
}

TEST(GradHook, FiresOncePerLeafGradient) {
  Tensor a = random_tensor({5}, 3).set_requires_grad();
  Tensor b = random_tensor({5}, 4).set_requires_grad();
  std::vector<const TensorImpl*> seen;
  sum(mul(a, b)).backward(Tensor(), false, [&](const TensorImpl* leaf) { seen.push_back(leaf); });
  EXPECT_EQ(std::set<const TensorImpl*>(seen.begin(), seen.end()),
            (std::set<const TensorImpl*>{a.impl(), b.impl()}));
  EXPECT_EQ(seen.size(), 2u);
}

// The split-phase path with a one-process sum against the single-pass kernels: output, running
// statistics, and every gradient, for plain, fused-ReLU and fused add-ReLU batch norm.
TEST(SyncBatchNorm, OneProcessMatchesTheSinglePassKernel) {
  for (int variant = 0; variant < 3; ++variant) {
    auto run = [&](bool synced) {
      Tensor x = random_tensor({3, 4, 5, 6}, 10).set_requires_grad();
      Tensor res = random_tensor({3, 4, 5, 6}, 11).set_requires_grad();
      Tensor w = random_tensor({6}, 12).set_requires_grad();
      Tensor bias = random_tensor({6}, 13).set_requires_grad();
      Tensor rm = Tensor::zeros({6}), rv = Tensor::ones({6});
      int calls = 0;
      const nn::StatsAllReduce count = [&](double*, int64_t) { ++calls; };
      ops::BatchNormOptions opt;
      opt.relu = variant > 0;
      const char* op = variant == 0 ? "batch_norm2d" : variant == 1 ? "batch_norm2d_relu" : "batch_norm2d_add_relu";
      Tensor y = synced         ? nn::sync_batch_norm(op, x, variant == 2 ? res : Tensor(), w, bias, rm, rv, opt, count)
                 : variant == 0 ? batch_norm2d(x, w, bias, rm, rv, true)
                 : variant == 1 ? batch_norm2d_relu(x, w, bias, rm, rv, true)
                                : batch_norm2d_add_relu(x, res, w, bias, rm, rv, true);
      Tensor g = random_tensor(y.shape(), 14);
      sum(mul(y, g)).backward();
      if (synced) {
        EXPECT_EQ(calls, 2) << "one sum forward, one backward";
      }
      std::vector<std::vector<float>> out{values(y), values(rm), values(rv), values(x.grad()), values(w.grad()),
                                          values(bias.grad())};
      if (variant == 2) out.push_back(values(res.grad()));
      return out;
    };
    const auto ref = run(false), got = run(true);
    ASSERT_EQ(ref.size(), got.size());
    for (size_t k = 0; k < ref.size(); ++k)
      for (size_t i = 0; i < ref[k].size(); ++i)
        EXPECT_NEAR(got[k][i], ref[k][i], 2e-4 + 2e-4 * std::abs(ref[k][i])) << "variant " << variant << " output " << k;
  }
}

TEST(Distributed, LocalWorldIsOneProcess) {
  nn::LocalCommunicator local;
  EXPECT_EQ(local.rank(), 0);
  EXPECT_EQ(local.size(), 1);
  float v[2] = {1.f, 2.f};
  local.all_reduce_sum(v, 2);
  local.broadcast(v, 2, 0);
  EXPECT_EQ(v[0], 1.f);
  EXPECT_EQ(v[1], 2.f);
  if (!nn::mpi_available()) {
    EXPECT_THROW(nn::make_mpi_communicator(), std::runtime_error);
  }
}

}  // namespace
}  // namespace hsanet

namespace hsanet {
namespace {

// With one process a DataParallel step is the plain step: the same loss, hits, images and
// gradients (the sums are over one process), and with sync_bn the batch norms carry the sum
// while it lives and drop it after.
TEST(DataParallel, OneProcessStepEqualsThePlainStep) {
  models::ModelConfig mc;
  mc.num_classes = 3;
  mc.height = mc.width = 32;
  mc.width_mult = 0.125;
  mc.blocks = {1, 1, 1, 1};
  const Tensor x = random_tensor({4, 32, 32, 3}, 41);
  const std::vector<int32_t> labels{0, 1, 2, 1};
  auto run = [&](bool parallel) {
    auto model = models::build_model(mc, /*seed=*/5);
    model->train();
    nn::LocalCommunicator one;
    std::unique_ptr<nn::DataParallel> dp;
    if (parallel) dp = std::make_unique<nn::DataParallel>(one, *model, 1 << 20, true, true);
    int synced = 0;
    nn::for_each_module(*model, [&](nn::Module& m) {
      if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) synced += bn->sync ? 1 : 0;
    });
    EXPECT_EQ(synced > 0, parallel);
    nn::TrainStepOptions so;
    so.parallel = dp.get();
    const nn::TrainStepStats st = nn::train_step(*model, x, labels, Tensor(), so);
    std::vector<float> grads;
    for (const auto& [name, p] : model->named_parameters()) {
      const std::vector<float> g = p.grad().to_vector();
      grads.insert(grads.end(), g.begin(), g.end());
    }
    dp.reset();
    nn::for_each_module(*model, [&](nn::Module& m) {
      if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) EXPECT_FALSE(bn->sync);
    });
    return std::make_tuple(st.loss_value, st.correct, st.samples, grads);
  };
  const auto [loss0, hits0, n0, g0] = run(false);
  const auto [loss1, hits1, n1, g1] = run(true);
  EXPECT_NEAR(loss1, loss0, 1e-6 * std::fabs(loss0));
  EXPECT_EQ(hits1, hits0);
  EXPECT_EQ(n1, 4);
  EXPECT_EQ(n0, 4);
  ASSERT_EQ(g1.size(), g0.size());
  for (size_t i = 0; i < g0.size(); ++i)
    ASSERT_NEAR(g1[i], g0[i], 2e-4 + 2e-4 * std::fabs(g0[i])) << i;
}

}  // namespace
}  // namespace hsanet
