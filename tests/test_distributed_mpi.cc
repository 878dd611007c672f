// Two processes under mpirun (ctest runs `mpirun -np 2` on this binary; see tests/CMakeLists.txt):
// the MPI collectives, synchronised batch norm against the one-process batch it splits, and
// cpu_train itself: the losses per step of a 2-process run with global batch B against a
// 1-process run with batch B. With --sync-bn they must agree to float rounding (the sums run in
// another order); with per-process batch norm every process normalises with its own half's
// statistics, a different computation, and the test only prints how far it drifts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "autograd/functions_vision.h"
#include "base/random.h"
#include "models/resnet.h"
#include "nn/distributed.h"
#include "nn/layers.h"
#include "nn/sync_batch_norm.h"
#include "test_train_util.h"

namespace hsanet {
namespace {

nn::Communicator* world = nullptr;

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.normal();
  return t;
}

TEST(Mpi, TwoProcessesSumAndBroadcast) {
  ASSERT_EQ(world->size(), 2) << "run under mpirun -np 2";
  const int r = world->rank();
  float v[3] = {1.f + r, 10.f * r, -1.f};
  world->all_reduce_sum(v, 3);
  EXPECT_EQ(v[0], 3.f);
  EXPECT_EQ(v[1], 10.f);
  EXPECT_EQ(v[2], -2.f);
  std::vector<float> big(100000, static_cast<float>(r + 1));
  world->start_all_reduce_sum(big.data(), static_cast<int64_t>(big.size()));
  world->progress();
  world->wait_all();
  EXPECT_EQ(big.front(), 3.f);
  EXPECT_EQ(big.back(), 3.f);
  int64_t w[2] = {r == 0 ? 7 : 0, r == 0 ? -3 : 0};
  world->broadcast(w, 2, 0);
  EXPECT_EQ(w[0], 7);
  EXPECT_EQ(w[1], -3);
}

// Each process holds half the rows of one batch; synchronised batch norm must give each half of
// the one-process output and input gradient, and weight gradients that sum to the whole batch's.
TEST(Mpi, SyncBatchNormEqualsTheWholeBatch) {
  const int r = world->rank();
  Tensor full = random_tensor({4, 3, 3, 5}, 21), gfull = random_tensor({4, 3, 3, 5}, 22);
  Tensor w0 = random_tensor({5}, 23), b0 = random_tensor({5}, 24);
  auto forward = [&](const Tensor& x, Tensor& w, Tensor& b, Tensor& rm, Tensor& rv, const Tensor& g) {
    Tensor y = batch_norm2d_relu(x, w, b, rm, rv, true);
    sum(mul(y, g)).backward();
    return y;
  };
  Tensor x1 = full.clone().set_requires_grad(), w1 = w0.clone().set_requires_grad(), b1 = b0.clone().set_requires_grad();
  Tensor rm1 = Tensor::zeros({5}), rv1 = Tensor::ones({5});
  Tensor y1 = forward(x1, w1, b1, rm1, rv1, gfull);

  const int64_t half = full.numel() / 2;
  auto rows = [&](const Tensor& t) {
    Tensor h = Tensor::empty({2, 3, 3, 5});
    std::copy(t.data() + r * half, t.data() + (r + 1) * half, h.data());
    return h;
  };
  Tensor x2 = rows(full).set_requires_grad(), w2 = w0.clone().set_requires_grad(), b2 = b0.clone().set_requires_grad();
  Tensor rm2 = Tensor::zeros({5}), rv2 = Tensor::ones({5});
  ops::BatchNormOptions opt;
  opt.relu = true;
  Tensor y2 = nn::sync_batch_norm("batch_norm2d_relu", x2, Tensor(), w2, b2, rm2, rv2, opt,
                                  [](double* d, int64_t n) { world->all_reduce_sum(d, n); });
  sum(mul(y2, rows(gfull))).backward();

  Tensor dw = w2.grad().clone(), db = b2.grad().clone();
  world->all_reduce_sum(dw.data(), 5);
  world->all_reduce_sum(db.data(), 5);
  for (int64_t i = 0; i < half; ++i) {
    EXPECT_NEAR(y2.data()[i], y1.data()[r * half + i], 1e-5);
    EXPECT_NEAR(x2.grad().data()[i], x1.grad().data()[r * half + i], 1e-4);
  }
  for (int c = 0; c < 5; ++c) {
    EXPECT_NEAR(dw.data()[c], w1.grad().data()[c], 1e-4);
    EXPECT_NEAR(db.data()[c], b1.grad().data()[c], 1e-4);
    EXPECT_NEAR(rm2.data()[c], rm1.data()[c], 1e-6);
    EXPECT_NEAR(rv2.data()[c], rv1.data()[c], 1e-5);
  }
}

// A whole network: each process's half of a batch with synchronised batch norm and the
// gradient all-reduce must give the one-process gradients of the whole batch.
TEST(Mpi, SyncBatchNormNetworkGradientsEqualTheWholeBatch) {
  const int r = world->rank();
  models::ModelConfig mc;
  mc.num_classes = 4;
  mc.height = mc.width = 32;
  mc.width_mult = 0.125;
  mc.blocks = {1, 1, 1, 1};
  auto model = models::build_model(mc, /*seed=*/3);
  Tensor x = random_tensor({8, 32, 32, 3}, 31);
  std::vector<int32_t> labels{0, 1, 2, 3, 3, 2, 1, 0};
  model->train();
  Tensor loss = cross_entropy((*model)(x), labels, 0.f);
  loss.backward();
  std::vector<std::vector<float>> ref;
  for (const auto& [n, p] : model->named_parameters()) ref.emplace_back(p.grad().data(), p.grad().data() + p.numel());
  for (const auto& [n, p] : model->named_parameters()) Tensor(p).zero_grad();

  Tensor xh = Tensor::empty({4, 32, 32, 3});
  std::copy(x.data() + r * xh.numel(), x.data() + (r + 1) * xh.numel(), xh.data());
  std::vector<int32_t> lh(labels.begin() + 4 * r, labels.begin() + 4 * r + 4);
  nn::convert_sync_batchnorm(*model, [](double* d, int64_t n) { world->all_reduce_sum(d, n); });
  nn::GradientReducer reducer(*world, model->named_parameters());
  reducer.begin_step(0.5);
  Tensor lossh = cross_entropy((*model)(xh), lh, 0.f);
  lossh.backward();
  reducer.finish_step();
  nn::convert_sync_batchnorm(*model, nullptr);
  size_t k = 0;
  for (const auto& [n, p] : model->named_parameters()) {
    double worst = 0, scale = 1e-3;
    for (int64_t i = 0; i < p.numel(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(p.grad().data()[i] - ref[k][i])));
      scale = std::max(scale, static_cast<double>(std::abs(ref[k][i])));
    }
    // Measured: 3e-6 of the largest gradient; float rounding in a different summation order.
    EXPECT_LT(worst, 1e-5 * scale) << n << ": largest gradient " << scale;
    ++k;
  }
}

// Per-step losses from a run's log.jsonl: the "batch" events carry the epoch's running mean.
std::vector<double> step_losses(const std::string& run, int batch) {
  std::ifstream in(run + "/log.jsonl");
  std::vector<double> means;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.at("event") == "batch") means.push_back(j.at("loss").get<double>());
  }
  std::vector<double> steps;
  for (size_t i = 0; i < means.size(); ++i)
    steps.push_back(means[i] * (i + 1) - (i > 0 ? means[i - 1] * i : 0.0));  // one epoch, equal batches
  (void)batch;
  return steps;
}

int run_train(const std::vector<std::string>& args, nn::Communicator* comm) {
  std::vector<const char*> argv{"cpu_train"};
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  train::ParseResult p = train::parse_train_command_line(static_cast<int>(argv.size()), argv.data(), out, err);
  if (!p.proceed) return p.code;
  p.inv.comm = comm;
  try {
    return train::run_training(p.inv, out, err, false);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << world->rank() << ": " << e.what();
    return 1;
  }
}

TEST(Mpi, TwoProcessTrainingMatchesOneProcessWithTheSameGlobalBatch) {
  const int r = world->rank();
  // One folder for both processes: rank 0 makes it, the other waits.
  static train::testing::TempDir tmp;
  std::string dir = tmp.path().string();
  std::vector<int64_t> chars(4096, 0);  // rank 0's folder name, to every process
  std::copy(dir.begin(), dir.end(), chars.begin());
  world->broadcast(chars.data(), static_cast<int64_t>(chars.size()), 0);
  dir.clear();
  for (int64_t c : chars)
    if (c != 0) dir.push_back(static_cast<char>(c));
  if (r == 0) train::testing::copy_faces(dir + "/faces", 4);
  world->barrier();

  // Two steps: the first compares one forward and backward, the second one update. Later steps
  // compare nothing: this small full-depth network turns rounding into percents within two
  // updates (two one-process runs that differ only in the convolutions' algorithm, direct or
  // Winograd, are 5% apart in the third step's loss even at lr 0.002).
  const int B = 8, steps = 2;
  auto args = [&](const std::string& out, std::vector<std::string> more) {
    std::vector<std::string> a{"--data", dir + "/faces", "--out", out, "--epochs", "1", "--batch-size",
                               std::to_string(B), "--limit-batches", std::to_string(steps), "--img-size", "32",
                               "--width-mult", "0.125", "--threads", "1", "--workers", "0", "--log-interval", "1",
                               "--lr", "0.05", "--seed", "9", "--val-fraction", "0.25"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  nn::LocalCommunicator local;
  // The one-process reference, computed by each process into a folder of its own.
  const std::string ref = dir + "/ref" + std::to_string(r);
  ASSERT_EQ(run_train(args(ref, {}), &local), 0);
  world->barrier();
  ASSERT_EQ(run_train(args(dir + "/sync", {"--sync-bn"}), world), 0);
  world->barrier();
  ASSERT_EQ(run_train(args(dir + "/local_bn", {}), world), 0);
  world->barrier();
  if (r != 0) return;
  const std::vector<double> a = step_losses(ref, B), s = step_losses(dir + "/sync", B),
                            p = step_losses(dir + "/local_bn", B);
  ASSERT_EQ(a.size(), static_cast<size_t>(steps));
  ASSERT_EQ(s.size(), a.size());
  ASSERT_EQ(p.size(), a.size());
  std::printf("step  1 process (batch %d)  2 processes, sync BN  |diff|     2 processes, per-process BN  |diff|\n", B);
  for (int i = 0; i < steps; ++i) {
    std::printf("%4d  %20.6f  %20.6f  %9.2e  %27.6f  %9.2e\n", i + 1, a[i], s[i], std::abs(s[i] - a[i]), p[i],
                std::abs(p[i] - a[i]));
    // Documented tolerance (docs/distributed.md). The first step is one forward and backward of
    // the same batch: 5e-5 relative. After an update this small full-depth network amplifies
    // rounding: nudging inputs by one float step moves its gradients by up to 9%, and two
    // one-process runs that differ only in the batch-norm code path (plain, or the synchronised
    // path with a no-op sum) are already 1.2e-2 apart at step 2; so the second step gets 5e-2.
    EXPECT_NEAR(s[i], a[i], (i == 0 ? 5e-5 : 5e-2) * std::abs(a[i])) << "step " << i + 1;
    EXPECT_TRUE(std::isfinite(p[i]));
  }
  // The first step's forward is the same computation in both modes up to batch norm.
  EXPECT_TRUE(std::filesystem::exists(dir + "/sync/last.safetensors"));
}

}  // namespace
}  // namespace hsanet

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::unique_ptr<hsanet::nn::Communicator> comm = hsanet::nn::make_mpi_communicator();
  hsanet::world = comm.get();
  if (comm->rank() != 0) {  // one process reports
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int code = RUN_ALL_TESTS();
  // A failure on either process fails the job.
  double worst = code;
  comm->all_reduce_sum(&worst, 1);
  return worst != 0 ? 1 : 0;
}
