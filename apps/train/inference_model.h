// A cpu_train checkpoint opened for inference: the model (eval mode), the run's evaluation
// transform and identity names. Shared by predict, verify (through Embedder) and explain.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/train/checkpoint.h"
#include "autograd/tensor.h"
#include "data/transforms.h"
#include "models/resnet.h"

namespace hsanet::train {

class InferenceModel {
 public:
  // Throws std::runtime_error naming the file when it is not a cpu_train checkpoint.
  // `precision`: the arithmetic of the convolutions (docs/precision.md).
  explicit InferenceModel(const std::string& checkpoint,
                          ops::Precision precision = ops::Precision::kF32);

  // The network's input for one image file: [1, H, W, 3] NHWC, the run's evaluation transform.
  // Throws data::DataError naming the file when it does not decode.
  Tensor input(const std::string& image_path) const;
  models::ResNet& model() const { return *model_; }
  const RunIdentity& run() const { return run_; }
  const data::TransformConfig& transform() const { return transform_.config(); }
  const std::vector<std::string>& classes() const { return run_.classes; }
  // The class index of an identity name, or -1 when the checkpoint does not know it.
  int label_of(const std::string& name) const;

 private:
  InferenceModel(const std::string& checkpoint, const io::SafeTensorsFile& file,
                 ops::Precision precision);
  RunIdentity run_;
  std::shared_ptr<models::ResNet> model_;
  data::Transform transform_;
};

}  // namespace hsanet::train
