// A cpu_train checkpoint ready for inference on image files: the model in eval mode, the run's
// evaluation transform, the identity names. Shared by predict and verify.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/train/inference_model.h"
#include "autograd/tensor.h"

namespace hsanet::train {

class Embedder {
 public:
  // Throws std::runtime_error naming the file when it is not a cpu_train checkpoint.
  explicit Embedder(const std::string& checkpoint,
                    ops::Precision precision = ops::Precision::kF32);

  // The pooled features (the input of the final fc) of one image file: [1, dim()]. Throws
  // data::DataError naming the file when it does not decode.
  Tensor features(const std::string& image_path) const;
  // The identity probabilities [1, classes] for features().
  Tensor probabilities(const Tensor& features) const;

  int dim() const;  // 2048 at --width-mult 1, proportionally fewer below
  const RunIdentity& run() const { return loaded_.run(); }
  const std::vector<std::string>& classes() const { return loaded_.classes(); }
  // The label index of an identity name, or -1 when the checkpoint does not know it.
  int label_of(const std::string& name) const { return loaded_.label_of(name); }

 private:
  InferenceModel loaded_;
};

// Cosine similarity of two equally long vectors (0 when either is all zeros).
double cosine_similarity(const float* a, const float* b, int64_t n);

}  // namespace hsanet::train
