// The whole training step: forward, cross-entropy, backward, SGD update (momentum 0.9, lr 0.005);
// or, with --mode infer, the forward alone in eval mode without the tape (what `hsanet evaluate`
// and `predict` run). --precision bf16 runs the convolutions in bf16 mixed precision.
//   build/bin/bench_train_step --model hsanet_3x3 --batch 4 --size 224 --threads 2 --steps 10
//   build/bin/bench_train_step --model resnet50 --mode infer --precision bf16
// Prints every step's time, the median, the peak resident and tensor memory, and a last line
// "images/s: X" (batch / median step time). Warm-up steps are not counted.
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdio>
#include <vector>

#include "autograd/functions_loss.h"
#include "autograd/node.h"
#include "base/allocator.h"
#include "base/profiler.h"
#include "base/random.h"
#include "cli/model_options.h"
#include "cli/openmp_policy.h"
#include "models/resnet.h"
#include "nn/optimizer.h"
#include "nn/train_step.h"
#include "ops/parallel.h"

using namespace hsanet;

int main(int argc, char** argv) {
  cli::use_short_openmp_spin(argv);
  CLI::App app{"bench_train_step: median training-step time of a model"};
  models::ModelConfig cfg;
  int batch = 4, size = 224, threads = 2, steps = 10, warmup = 2;
  bool profile = false, profile_shapes = false;
  std::string device = "cpu";
  cli::add_model_options(app, cfg);
  cli::add_attention_device_option(app, device);
  std::string conv_algorithm = "fast";
  cli::add_conv_algorithm_option(app, conv_algorithm);
  std::string precision = "fp32";
  cli::add_precision_option(app, precision);
  std::string mode = "train";
  app.add_option("--mode", mode, "train (forward, loss, backward, SGD) | infer (eval-mode forward)")
      ->check(CLI::IsMember({"train", "infer"}))
      ->capture_default_str();
  app.add_option("--batch", batch, "images per step")->check(CLI::Range(2, 4096));
  app.add_option("--size", size, "input height and width")->check(CLI::Range(32, 4096));
  app.add_option("--threads", threads, "compute threads")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first")->check(CLI::NonNegativeNumber);
  app.add_flag("--profile", profile, "print time per op (forward by module, backward by node)");
  app.add_flag("--profile-shapes", profile_shapes,
               "with --profile: each convolution's geometry and pass on a line of its own");
  CLI11_PARSE(app, argc, argv);

  ops::set_num_threads(threads);
  ops::flush_denormals(true);  // as cpu_train does
  try {
    cfg.attention_device = cli::usable_attention_device(device);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 1;
  }
  cfg.height = cfg.width = size;
  cfg.precision = ops::parse_precision(precision);
  cfg.conv_algorithm = ops::parse_conv2d_algorithm(conv_algorithm);
  auto model = models::build_model(cfg, /*seed=*/1);
  const bool train = mode == "train";
  model->train(train);
  nn::SGD opt(model->named_parameters(), {.lr = 0.005f, .momentum = 0.9f, .weight_decay = 1e-4f});
  Rng rng(2);
  Tensor x = Tensor::randn({batch, size, size, 3}, rng);  // NHWC
  std::vector<int32_t> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>(rng.below(cfg.num_classes));

  std::printf("model %s, %s, batch %d, %dx%d, %d threads, %lld parameters, convolutions %s\n",
              cfg.name.c_str(), train ? "training step" : "inference", batch, size, size, threads,
              static_cast<long long>(model->num_parameters()), conv_algorithm.c_str());
  std::printf("%s\n", cli::precision_line(cfg.precision).c_str());
  std::vector<double> times;
  std::unique_ptr<Profiler> prof;
  for (int s = 0; s < warmup + steps; ++s) {
    if ((profile || profile_shapes) && s == warmup) prof = std::make_unique<Profiler>(profile_shapes);
    const auto t0 = std::chrono::steady_clock::now();
    Tensor loss;
    if (train) {  // the step cpu_train runs (nn/train_step.h)
      loss = nn::train_step(*model, x, labels, Tensor(), {.optimizer = &opt}).loss;
    } else {
      NoGradGuard no_grad;
      ProfileRegion r("forward", "loss and glue");
      loss = cross_entropy((*model)(x), labels);
    }
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("step %2d%s  %.1f ms  loss %.4f\n", s + 1, s < warmup ? " (warm-up)" : "", dt * 1e3,
                loss.item());
    if (s >= warmup) times.push_back(dt);
  }
  if (prof) std::printf("\nprofile over %d steps:\n%s\n", steps, prof->report().c_str());
  std::sort(times.begin(), times.end());
  const size_t n = times.size();
  const double median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("median step: %.1f ms (min %.1f, max %.1f over %zu steps)\n", median * 1e3,
              times.front() * 1e3, times.back() * 1e3, n);
  std::printf("peak RSS: %.1f MiB\n", ru.ru_maxrss / 1024.0);
  std::printf("peak tensor memory: %.1f MiB\n", allocator_stats().peak_bytes_in_use / 1048576.0);
  if (device != "cpu") {
    const ops::AttentionTransferStats t = ops::attention_transfer_stats();
    std::printf("attention on %s: %.1f MB to the device, %.1f MB back\n", device.c_str(),
                t.bytes_to_device / 1e6, t.bytes_to_host / 1e6);
  }
  std::printf("images/s: %.3f\n", batch / median);
  return 0;
}
