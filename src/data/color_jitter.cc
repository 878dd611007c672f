#include "data/color_jitter.h"

#include <algorithm>
#include <utility>

namespace hsanet::data {

namespace {

double grey(const float* p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }

// torchvision's _blend: f x + (1 - f) other, clamped to the picture's range.
float blend(double x, double other, double f) {
  return static_cast<float>(std::clamp(f * x + (1.0 - f) * other, 0.0, 255.0));
}

}  // namespace

ColorJitterDraw draw_color_jitter(const ColorJitterConfig& c, Rng& rng) {
  ColorJitterDraw d;
  if (!c.enabled()) return d;
  for (int i = 2; i > 0; --i) std::swap(d.order[i], d.order[rng.below(static_cast<uint64_t>(i) + 1)]);
  const double strength[3] = {c.brightness, c.contrast, c.saturation};
  for (int k = 0; k < 3; ++k) {
    if (strength[k] <= 0) continue;
    const double lo = std::max(0.0, 1.0 - strength[k]), hi = 1.0 + strength[k];
    d.factor[k] = lo + (hi - lo) * rng.uniform_double();
  }
  return d;
}

void adjust_brightness(float* img, int64_t pixels, double f) {
  // img: [pixels, 3]; blend with black
  for (int64_t i = 0; i < pixels * 3; ++i) img[i] = blend(img[i], 0.0, f);
}

void adjust_contrast(float* img, int64_t pixels, double f) {
  // img: [pixels, 3]; blend with the picture's mean grey level
  double sum = 0;
  for (int64_t i = 0; i < pixels; ++i) sum += grey(img + i * 3);
  const double mean = pixels > 0 ? sum / static_cast<double>(pixels) : 0.0;
  for (int64_t i = 0; i < pixels * 3; ++i) img[i] = blend(img[i], mean, f);
}

void adjust_saturation(float* img, int64_t pixels, double f) {
  // img: [pixels, 3]; blend each pixel with its own grey level
  for (int64_t i = 0; i < pixels; ++i) {
    float* p = img + i * 3;
    const double g = grey(p);
    for (int c = 0; c < 3; ++c) p[c] = blend(p[c], g, f);
  }
}

void color_jitter(float* img, int64_t pixels, const ColorJitterDraw& d) {
  for (ColorOp op : d.order) {
    const double f = d.factor[static_cast<int>(op)];
    if (f == 1.0) continue;  // the identity (and a disabled component)
    switch (op) {
      case ColorOp::Brightness: adjust_brightness(img, pixels, f); break;
      case ColorOp::Contrast: adjust_contrast(img, pixels, f); break;
      case ColorOp::Saturation: adjust_saturation(img, pixels, f); break;
    }
  }
}

}  // namespace hsanet::data
