#include "apps/train/inference_model.h"

#include <stdexcept>

#include "base/random.h"
#include "data/decode.h"

namespace hsanet::train {

namespace {

RunIdentity identity_of(const io::SafeTensorsFile& file, const std::string& path) {
  if (!is_training_checkpoint(file))
    throw std::runtime_error(path + ": needs a checkpoint written by cpu_train (it names the identities and the "
                             "input size); plain weights have neither");
  return read_run_identity(file, path);
}

}  // namespace

InferenceModel::InferenceModel(const std::string& checkpoint, ops::Precision precision)
    : InferenceModel(checkpoint, io::read_safetensors(checkpoint), precision) {}

InferenceModel::InferenceModel(const std::string& checkpoint, const io::SafeTensorsFile& file,
                               ops::Precision precision)
    : run_(identity_of(file, checkpoint)), model_(models::build_model(run_.model)),
      transform_(run_.config.eval_transform()) {
  nn::set_precision(*model_, precision);
  load_model_weights(file, checkpoint, *model_, /*strict=*/true);
  model_->eval();
}

Tensor InferenceModel::input(const std::string& image_path) const {
  Tensor x = Tensor::empty({1, transform_.out_height(), transform_.out_width(), 3});  // [1, H, W, 3] NHWC
  Rng unused(0);  // the evaluation transform draws nothing
  transform_.apply(data::decode_image_file(image_path), unused, x.data());
  return x;
}

int InferenceModel::label_of(const std::string& name) const {
  for (size_t i = 0; i < run_.classes.size(); ++i)
    if (run_.classes[i] == name) return static_cast<int>(i);
  return -1;
}

}  // namespace hsanet::train
