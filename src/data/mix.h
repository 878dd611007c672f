// Batch mixing: mixup and cutmix, as timm's Mixup in its 'batch' mode.
//
// Per batch, lambda ~ Beta(alpha, alpha), and image i is mixed with image B-1-i (the batch
// flipped), so every image has a partner and none is read twice:
//   mixup:  x_i <- lambda x_i + (1 - lambda) x_{B-1-i}
//   cutmix: a box of area about (1 - lambda) H W, centred uniformly and clipped to the image, is
//           pasted from x_{B-1-i}; lambda becomes 1 - box area / (H W), the share actually kept.
// The labels follow: t_i = lambda smooth(onehot(y_i)) + (1 - lambda) smooth(onehot(y_{B-1-i})),
// where smooth(q) = (1 - s) q + s / K is label smoothing applied to each one-hot first (timm's
// mixup_target). A batch is mixed at all with probability `prob`; with both alphas > 0, cutmix
// is chosen with probability `switch_prob`, mixup otherwise.
//
// The draws come from mix_rng(seed, epoch, batch): a batch's mixing depends on nothing else, so
// a resumed run mixes exactly as an uninterrupted one.
#pragma once

#include <cstdint>
#include <vector>

#include "base/random.h"
#include "data/transforms.h"

namespace hsanet::data {

struct MixConfig {
  double mixup_alpha = 0;    // > 0: mixup with lambda ~ Beta(alpha, alpha)
  double cutmix_alpha = 0;   // > 0: cutmix with lambda ~ Beta(alpha, alpha)
  double prob = 1.0;         // probability that a batch is mixed at all
  double switch_prob = 0.5;  // both on: probability of cutmix rather than mixup for a batch
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

enum class MixMode { None, Mixup, Cutmix };

struct MixDraw {
  MixMode mode = MixMode::None;
  double lambda = 1.0;  // the weight of each image's own label
  Rect box;             // cutmix: the pasted rectangle, inside the image (possibly empty)
};

// The stream of batch `batch`'s mixing draws. Key b has its top bit set: sample indices (the
// per-image augmentation's keys) never do, so the streams never coincide.
Rng mix_rng(uint64_t seed, int epoch, int64_t batch);

// One draw from Beta(a, b), a, b > 0, as Gamma(a) / (Gamma(a) + Gamma(b)) (Marsaglia and Tsang's
// gamma sampler), computed in logarithms so that small alphas, whose gammas underflow, stay exact.
double sample_beta(double a, double b, Rng& rng);

// timm's rand_bbox: cut sides int(side * sqrt(1 - lambda)), a centre uniform over the image,
// the box [c - cut / 2, c + cut / 2) per axis clipped to the image.
Rect cutmix_box(int width, int height, double lambda, Rng& rng);

// The batch's choice: mixed or not, mixup or cutmix, lambda (corrected to the box for cutmix).
MixDraw draw_mix(const MixConfig& config, int width, int height, Rng& rng);

// images: [B, height, width, channels], mixed in place with the flipped batch. B odd: the middle
// image is its own partner and stays as it is.
void apply_mix(float* images, int B, int height, int width, int channels, const MixDraw& draw);

// The partner labels: partner[i] = labels[B - 1 - i].
std::vector<int> flipped_labels(const std::vector<int>& labels);

// targets: [B, num_classes], lambda smooth(onehot(labels)) + (1 - lambda) smooth(onehot(partner)).
std::vector<float> mixed_targets(const std::vector<int>& labels, const std::vector<int>& partner, double lambda,
                                 int num_classes, double smoothing);

// The label with the larger weight per sample (its own when lambda >= 0.5): what a training
// accuracy over mixed labels counts as correct.
std::vector<int> dominant_labels(const std::vector<int>& labels, const std::vector<int>& partner, double lambda);

}  // namespace hsanet::data
