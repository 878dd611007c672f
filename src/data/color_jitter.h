// Colour jitter: random brightness, contrast and saturation, as torchvision's ColorJitter.
//
// Each enabled component draws its factor uniformly from [max(0, 1 - s), 1 + s] (s its strength)
// and the three are applied in a random order per image. On a picture in 0..255:
//   brightness f:  x <- f x
//   contrast f:    x <- f x + (1 - f) m,  m the mean over the picture of its grey level
//   saturation f:  x <- f x + (1 - f) g,  g the pixel's grey level
// each clamped to [0, 255] (torchvision's _blend). Grey level: 0.299 R + 0.587 G + 0.114 B (ITU-R
// 601-2, PIL's convert("L")), whose weights sum to 1, so a grey pixel's grey level is itself and
// saturation leaves a grey picture as it is. Hue is not jittered.
#pragma once

#include <array>
#include <cstdint>

#include "base/random.h"

namespace hsanet::data {

struct ColorJitterConfig {
  double brightness = 0, contrast = 0, saturation = 0;  // strengths s >= 0; 0: that one is off
  bool enabled() const { return brightness > 0 || contrast > 0 || saturation > 0; }
};

enum class ColorOp { Brightness = 0, Contrast = 1, Saturation = 2 };

struct ColorJitterDraw {
  std::array<ColorOp, 3> order{ColorOp::Brightness, ColorOp::Contrast, ColorOp::Saturation};
  std::array<double, 3> factor{1.0, 1.0, 1.0};  // per ColorOp; 1: the identity
};

// The random order (a permutation drawn first, as torchvision's randperm), then one factor per
// enabled component in the order brightness, contrast, saturation. Draws nothing when disabled.
ColorJitterDraw draw_color_jitter(const ColorJitterConfig& config, Rng& rng);

// img: [pixels, 3] floats in 0..255, changed in place and kept in 0..255.
void adjust_brightness(float* img, int64_t pixels, double factor);
void adjust_contrast(float* img, int64_t pixels, double factor);
void adjust_saturation(float* img, int64_t pixels, double factor);
// The three in draw.order with draw.factor.
void color_jitter(float* img, int64_t pixels, const ColorJitterDraw& draw);

}  // namespace hsanet::data
