// Image -> normalised float picture: the geometry of training augmentation and of evaluation.
//
// Training (the reference recipe, torchvision's algorithms):
//   centre crop fraction -> random resized crop to size x size -> random horizontal flip
//   -> colour jitter (off by default) -> normalise -> random erasing (an occluding box filled
//   with a constant)
// Evaluation:
//   centre crop fraction -> resize the short side to resize_short -> central size x size -> normalise
//
// Every random choice comes from the Rng passed to apply(). The loader derives that Rng from
// (seed, epoch, sample index) with hsanet::Rng::derive, so a sample's augmentation does not depend
// on the batch it lands in or on the number of worker threads.
//
// The pieces are free functions so that tests can check their geometry on their own.
#pragma once

#include <array>
#include <optional>

#include "base/random.h"
#include "data/color_jitter.h"
#include "data/image.h"
#include "data/resample.h"

namespace hsanet::data {

struct TransformConfig {
  int size = 224;                     // output is size x size x 3
  double center_crop_fraction = 1.0;  // first, keep the central fraction of each side (1: all)
  ResizeFilter filter = ResizeFilter::Bilinear;
  int resize_short = 0;               // evaluation: short side before the centre crop (0: size)

  bool train = false;                 // false: the evaluation path, no randomness
  bool random_resized_crop = true;    // train: false uses the evaluation geometry
  double scale_min = 0.6, scale_max = 1.0;            // crop area / image area
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  // crop width / height
  double hflip_p = 0.5;
  ColorJitterConfig color_jitter;  // brightness, contrast, saturation strengths (0: off)
  double erase_p = 0.5;
  double erase_area_min = 0.02, erase_area_max = 0.2;     // erased area / image area
  double erase_aspect_min = 0.3, erase_aspect_max = 3.3;  // erased height / width
  float erase_fill = 0.f;  // in normalised units: 0 is the mean colour

  // (pixel / 255 - mean) / std per channel; ImageNet statistics by default.
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

// The reference's two pipelines at a given output size.
TransformConfig train_transform_config(int size, double center_crop_fraction = 1.0);
TransformConfig eval_transform_config(int size, double center_crop_fraction = 1.0);

// An integer pixel rectangle [x, x + width) x [y, y + height).
struct Rect {
  int x = 0, y = 0, width = 0, height = 0;
  bool operator==(const Rect&) const = default;
};

// The central fraction of each side: max(1, round_half_up(side * fraction)), offset (side - kept) / 2.
Rect center_crop_rect(int width, int height, double fraction);

// torchvision's RandomResizedCrop: up to 10 draws of area in [scale_min, scale_max] x image area
// and log-uniform aspect in [ratio_min, ratio_max]; the first that fits is placed uniformly.
// Otherwise the whole image, cropped centrally to the nearest allowed aspect.
Rect random_resized_crop_rect(int width, int height, double scale_min, double scale_max, double ratio_min,
                              double ratio_max, Rng& rng);

// The source box that "resize the short side to resize_short, then take the central crop x crop"
// reads, in the source's continuous coordinates.
Box resize_center_crop_box(int width, int height, int resize_short, int crop);

// torchvision's RandomErasing geometry: with probability p, up to 10 draws of an area in
// [area_min, area_max] x image area and log-uniform aspect (height / width); the first that fits
// strictly inside is placed uniformly. nullopt when nothing is erased.
std::optional<Rect> random_erasing_rect(int width, int height, double p, double area_min, double area_max,
                                        double aspect_min, double aspect_max, Rng& rng);

// img: [height, width, 3] floats
void hflip(float* img, int width, int height);
void fill_rect(float* img, int width, const Rect& rect, float value);
// img: [pixels, 3] floats in 0..255, normalised in place.
void normalize(float* img, int64_t pixels, const std::array<float, 3>& mean, const std::array<float, 3>& std);

class Transform {
 public:
  // Throws std::invalid_argument on an inconsistent configuration.
  explicit Transform(TransformConfig config);
  const TransformConfig& config() const { return config_; }
  int out_height() const { return config_.size; }
  int out_width() const { return config_.size; }
  // out: [size, size, 3] floats. Draws from rng only in training mode.
  void apply(const Image& image, Rng& rng, float* out) const;

 private:
  TransformConfig config_;
};

}  // namespace hsanet::data
