#include "apps/train/embedder.h"

#include <cmath>

#include "autograd/functions_loss.h"
#include "autograd/node.h"

namespace hsanet::train {

Embedder::Embedder(const std::string& checkpoint, ops::Precision precision)
    : loaded_(checkpoint, precision) {}

Tensor Embedder::features(const std::string& image_path) const {
  const Tensor x = loaded_.input(image_path);  // [1, H, W, 3] NHWC
  NoGradGuard no_grad;
  return loaded_.model().features(x);
}

Tensor Embedder::probabilities(const Tensor& features) const {
  NoGradGuard no_grad;
  return softmax_no_grad((*loaded_.model().fc)(features));
}

int Embedder::dim() const { return static_cast<int>(loaded_.model().fc->weight.size(1)); }

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
