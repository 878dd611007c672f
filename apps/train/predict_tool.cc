// hsanet predict: image files in, the top-k identities with their probabilities out.
#include <fmt/printf.h>
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <ostream>

#include <nlohmann/json.hpp>

#include "apps/train/checkpoint.h"
#include "apps/train/tools.h"
#include "autograd/functions_loss.h"
#include "autograd/node.h"
#include "autograd/random.h"
#include "data/data_error.h"
#include "data/decode.h"
#include "data/transforms.h"
#include "models/resnet.h"

namespace hsanet::train {

int predict_command(const PredictOptions& opt, std::ostream& out, std::ostream& err) {
  if (opt.top_k < 1) throw std::invalid_argument("--top-k must be at least 1");
  SafeTensorsFile file = read_safetensors(opt.checkpoint);
  if (!is_training_checkpoint(file))
    throw std::runtime_error(opt.checkpoint + ": predict needs a checkpoint written by cpu_train (it names the "
                             "identities and the input size); plain weights have neither");
  const RunIdentity run = read_run_identity(file, opt.checkpoint);
  auto model = models::build_model(run.model);
  load_model_weights(file, opt.checkpoint, *model, /*strict=*/true);
  model->eval();
  NoGradGuard no_grad;
  const data::Transform transform(run.config.eval_transform());
  const int k = std::min<int>(opt.top_k, static_cast<int>(run.classes.size()));

  int failures = 0;
  for (const std::string& path : opt.images) {
    Tensor x = Tensor::empty({1, transform.out_height(), transform.out_width(), 3});  // NHWC
    try {
      Rng unused(0);  // the evaluation path draws nothing
      transform.apply(data::decode_image_file(path), unused, x.data());
    } catch (const data::DataError& e) {
      err << "hsanet predict: " << e.what() << "\n";
      ++failures;
      continue;
    }
    Tensor probs = softmax_no_grad((*model)(x));  // [1, classes]
    const float* p = probs.data();
    std::vector<int> order(run.classes.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    if (opt.json) {
      nlohmann::json j = {{"file", path}, {"top", nlohmann::json::array()}};
      for (int i = 0; i < k; ++i) j["top"].push_back({{"class", run.classes[order[i]]}, {"probability", p[order[i]]}});
      out << j.dump() << "\n";
    } else {
      out << path << "\n";
      for (int i = 0; i < k; ++i) {
        std::string line;
        line = fmt::sprintf("  %d. %-20s %.4f\n", i + 1, run.classes[order[i]].c_str(), p[order[i]]);
        out << line;
      }
    }
  }
  return failures ? 1 : 0;
}

}  // namespace hsanet::train
