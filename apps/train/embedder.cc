#include "apps/train/embedder.h"

#include <cmath>
#include <stdexcept>

#include "autograd/functions_loss.h"
#include "autograd/node.h"
#include "autograd/random.h"
#include "data/decode.h"

namespace hsanet::train {

namespace {

RunIdentity identity_of(const SafeTensorsFile& file, const std::string& path) {
  if (!is_training_checkpoint(file))
    throw std::runtime_error(path + ": needs a checkpoint written by cpu_train (it names the identities and the "
                             "input size); plain weights have neither");
  return read_run_identity(file, path);
}

}  // namespace

Embedder::Embedder(const std::string& checkpoint) : Embedder(checkpoint, read_safetensors(checkpoint)) {}

Embedder::Embedder(const std::string& checkpoint, const SafeTensorsFile& file)
    : source_(checkpoint), run_(identity_of(file, checkpoint)), model_(models::build_model(run_.model)),
      transform_(run_.config.eval_transform()) {
  load_model_weights(file, checkpoint, *model_, /*strict=*/true);
  model_->eval();
}

Tensor Embedder::features(const std::string& image_path) const {
  Tensor x = Tensor::empty({1, transform_.out_height(), transform_.out_width(), 3});  // NHWC
  Rng unused(0);  // the evaluation transform draws nothing
  transform_.apply(data::decode_image_file(image_path), unused, x.data());
  NoGradGuard no_grad;
  return model_->features(x);
}

Tensor Embedder::probabilities(const Tensor& features) const {
  NoGradGuard no_grad;
  return softmax_no_grad((*model_->fc)(features));
}

int Embedder::dim() const { return static_cast<int>(model_->fc->weight.size(1)); }

int Embedder::label_of(const std::string& name) const {
  for (size_t i = 0; i < run_.classes.size(); ++i)
    if (run_.classes[i] == name) return static_cast<int>(i);
  return -1;
}

double cosine_similarity(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  if (aa == 0 || bb == 0) return 0;
  return ab / std::sqrt(aa * bb);
}

}  // namespace hsanet::train
