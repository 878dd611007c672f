// demo_train: a small MLP learns two interleaved spirals -- the engine end to end in a second.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>

#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "autograd/random.h"
#include "nn/linear.h"
#include "nn/optimizer.h"

using namespace hsanet;

int main(int argc, char** argv) {
  CLI::App app{"demo_train: a small MLP learns two interleaved spirals"};
  int steps = 1000, hidden = 64;
  uint64_t seed = 42;
  app.add_option("--steps", steps, "training steps")->check(CLI::PositiveNumber);
  app.add_option("--hidden", hidden, "hidden width")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);

  manual_seed(seed);
  const int n = 200;
  std::vector<float> xs;
  std::vector<int32_t> labels;
  for (int i = 0; i < n; ++i) {
    const int c = i % 2;
    const float t = 0.5f + 3.f * static_cast<float>(i / 2) / (n / 2);
    xs.push_back(t * std::cos(t + c * 3.14159f) / 3.5f);
    xs.push_back(t * std::sin(t + c * 3.14159f) / 3.5f);
    labels.push_back(c);
  }
  Tensor x = Tensor::from_vector(xs, {n, 2});
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(2, hidden));
  net.add(std::make_shared<nn::ReLU>());
  net.add(std::make_shared<nn::Linear>(hidden, hidden));
  net.add(std::make_shared<nn::ReLU>());
  net.add(std::make_shared<nn::Linear>(hidden, 2));
  nn::AdamW opt(net.named_parameters(), {.lr = 0.01f, .weight_decay = 0.f});
  for (int step = 1; step <= steps; ++step) {
    opt.zero_grad();
    Tensor logits = net(x);
    Tensor loss = cross_entropy(logits, labels);
    loss.backward();
    opt.step();
    if (step % (steps / 10 > 0 ? steps / 10 : 1) == 0 || step == 1) {
      int correct = 0;
      for (int i = 0; i < n; ++i)
        correct += (logits.data()[2 * i + 1] > logits.data()[2 * i]) == (labels[i] == 1);
      std::printf("step %5d  loss %.4f  accuracy %.1f%%\n", step, loss.item(), 100.0 * correct / n);
    }
  }
  return 0;
}
