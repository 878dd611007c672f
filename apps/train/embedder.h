// A cpu_train checkpoint ready for inference on image files: the model in eval mode, the run's
// evaluation transform, the identity names. Shared by predict and verify.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/train/checkpoint.h"
#include "autograd/tensor.h"
#include "data/transforms.h"
#include "models/resnet.h"

namespace hsanet::train {

class Embedder {
 public:
  // Throws std::runtime_error naming the file when it is not a cpu_train checkpoint.
  explicit Embedder(const std::string& checkpoint);

  // The pooled features (the input of the final fc) of one image file: [1, dim()]. Throws
  // data::DataError naming the file when it does not decode.
  Tensor features(const std::string& image_path) const;
  // The identity probabilities [1, classes] for features().
  Tensor probabilities(const Tensor& features) const;

  int dim() const;  // 2048 at --width-mult 1, proportionally fewer below
  const RunIdentity& run() const { return run_; }
  const std::vector<std::string>& classes() const { return run_.classes; }
  // The label index of an identity name, or -1 when the checkpoint does not know it.
  int label_of(const std::string& name) const;

 private:
  Embedder(const std::string& checkpoint, const SafeTensorsFile& file);

  std::string source_;
  RunIdentity run_;
  std::shared_ptr<models::ResNet> model_;
  data::Transform transform_;
};

// Cosine similarity of two equally long vectors (0 when either is all zeros).
double cosine_similarity(const float* a, const float* b, int64_t n);

}  // namespace hsanet::train
