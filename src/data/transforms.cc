#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "data/round.h"

namespace hsanet::data {

namespace {

// Python's round(): halves to even. nearbyint does that in the default rounding mode.
int py_round(double x) { return static_cast<int>(std::nearbyint(x)); }

// Uniform in [lo, hi) with 53 random bits, as Python's random.uniform.
double uniform(Rng& rng, double lo, double hi) { return lo + (hi - lo) * rng.uniform_double(); }

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("Transform: " + what);
}

}  // namespace

TransformConfig train_transform_config(int size, double center_crop_fraction) {
  TransformConfig c;
  c.size = size;
  c.center_crop_fraction = center_crop_fraction;
  c.train = true;
  return c;
}

TransformConfig eval_transform_config(int size, double center_crop_fraction) {
  TransformConfig c;
  c.size = size;
  c.center_crop_fraction = center_crop_fraction;
  c.train = false;
  return c;
}

Rect center_crop_rect(int width, int height, double fraction) {
  if (fraction >= 1.0) return {0, 0, width, height};
  const int w = std::max(1, round_half_up(width * fraction));
  const int h = std::max(1, round_half_up(height * fraction));
  return {(width - w) / 2, (height - h) / 2, w, h};
}

Rect random_resized_crop_rect(int width, int height, double scale_min, double scale_max, double ratio_min,
                              double ratio_max, Rng& rng) {
  const double area = static_cast<double>(width) * height;
  const double log_lo = std::log(ratio_min), log_hi = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * uniform(rng, scale_min, scale_max);
    const double aspect = std::exp(uniform(rng, log_lo, log_hi));
    const int w = py_round(std::sqrt(target_area * aspect));
    const int h = py_round(std::sqrt(target_area / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int y = static_cast<int>(rng.below(static_cast<uint64_t>(height - h + 1)));
      const int x = static_cast<int>(rng.below(static_cast<uint64_t>(width - w + 1)));
      return {x, y, w, h};
    }
  }
  // Fallback: the whole image, trimmed to the nearest aspect ratio in range.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_min) {
    h = std::max(1, py_round(w / ratio_min));
  } else if (in_ratio > ratio_max) {
    w = std::max(1, py_round(h * ratio_max));
  }
  return {(width - w) / 2, (height - h) / 2, w, h};
}

Box resize_center_crop_box(int width, int height, int resize_short, int crop) {
  // Resizing by s = resize_short / short_side and cropping crop x crop from the centre reads a
  // (crop / s)-sized square from the centre of the source.
  const double s = static_cast<double>(resize_short) / std::min(width, height);
  const double side = crop / s;
  const double bw = std::min<double>(side, width), bh = std::min<double>(side, height);
  const double x0 = (width - bw) / 2, y0 = (height - bh) / 2;
  return {x0, y0, x0 + bw, y0 + bh};
}

std::optional<Rect> random_erasing_rect(int width, int height, double p, double area_min, double area_max,
                                        double aspect_min, double aspect_max, Rng& rng) {
  if (rng.uniform_double() >= p) return std::nullopt;
  const double area = static_cast<double>(width) * height;
  const double log_lo = std::log(aspect_min), log_hi = std::log(aspect_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double erase_area = area * uniform(rng, area_min, area_max);
    const double aspect = std::exp(uniform(rng, log_lo, log_hi));
    const int h = py_round(std::sqrt(erase_area * aspect));
    const int w = py_round(std::sqrt(erase_area / aspect));
    if (h > 0 && w > 0 && h < height && w < width) {
      const int y = static_cast<int>(rng.below(static_cast<uint64_t>(height - h + 1)));
      const int x = static_cast<int>(rng.below(static_cast<uint64_t>(width - w + 1)));
      return Rect{x, y, w, h};
    }
  }
  return std::nullopt;
}

void hflip(float* img, int width, int height) {
  // img: [height, width, 3]; pixel x trades places with pixel width - 1 - x, channels kept together
  constexpr int C = Image::kChannels;
  for (int y = 0; y < height; ++y) {
    float* row = img + static_cast<size_t>(y) * width * C;
    for (int a = 0, b = width - 1; a < b; ++a, --b)
      for (int c = 0; c < C; ++c) std::swap(row[a * C + c], row[b * C + c]);
  }
}

void fill_rect(float* img, int width, const Rect& rect, float value) {
  // img: [height, width, 3]; rect inside it
  constexpr int C = Image::kChannels;
  for (int y = rect.y; y < rect.y + rect.height; ++y) {
    float* p = img + (static_cast<size_t>(y) * width + rect.x) * C;
    std::fill(p, p + static_cast<size_t>(rect.width) * C, value);
  }
}

void normalize(float* img, int64_t pixels, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  // img: [pixels, 3]; y = (x / 255 - mean) / std = x * a + b with a = 1 / (255 std), b = -mean / std
  float a[3], b[3];
  for (int c = 0; c < 3; ++c) {
    a[c] = 1.f / (255.f * std[c]);
    b[c] = -mean[c] / std[c];
  }
  for (int64_t i = 0; i < pixels; ++i)
    for (int c = 0; c < 3; ++c) img[i * 3 + c] = img[i * 3 + c] * a[c] + b[c];
}

Transform::Transform(TransformConfig config) : config_(config) {
  const TransformConfig& c = config_;
  require(c.size > 0, "size must be positive, got " + std::to_string(c.size));
  require(c.center_crop_fraction > 0 && c.center_crop_fraction <= 1, "center_crop_fraction must be in (0, 1]");
  require(c.resize_short == 0 || c.resize_short >= c.size, "resize_short must be 0 or at least size");
  require(c.scale_min > 0 && c.scale_min <= c.scale_max && c.scale_max <= 1, "need 0 < scale_min <= scale_max <= 1");
  require(c.ratio_min > 0 && c.ratio_min <= c.ratio_max, "need 0 < ratio_min <= ratio_max");
  require(c.hflip_p >= 0 && c.hflip_p <= 1, "hflip_p must be in [0, 1]");
  require(c.erase_p >= 0 && c.erase_p <= 1, "erase_p must be in [0, 1]");
  require(c.erase_area_min > 0 && c.erase_area_min <= c.erase_area_max && c.erase_area_max < 1,
          "need 0 < erase_area_min <= erase_area_max < 1");
  require(c.erase_aspect_min > 0 && c.erase_aspect_min <= c.erase_aspect_max,
          "need 0 < erase_aspect_min <= erase_aspect_max");
  for (double s : {c.color_jitter.brightness, c.color_jitter.contrast, c.color_jitter.saturation})
    require(s >= 0 && std::isfinite(s), "colour jitter strengths must be finite and >= 0");
  for (int ch = 0; ch < 3; ++ch) require(c.std[ch] > 0, "std must be positive");
}

void Transform::apply(const Image& image, Rng& rng, float* out) const {
  // image: [H, W, 3] uint8; out: [size, size, 3] float
  const TransformConfig& c = config_;
  const int size = c.size;
  const Rect keep = center_crop_rect(image.width, image.height, c.center_crop_fraction);
  const ImageView view = ImageView(image).sub(keep.x, keep.y, keep.width, keep.height);

  Box box;
  if (c.train && c.random_resized_crop) {
    const Rect r = random_resized_crop_rect(view.width, view.height, c.scale_min, c.scale_max, c.ratio_min,
                                            c.ratio_max, rng);
    box = {double(r.x), double(r.y), double(r.x + r.width), double(r.y + r.height)};
  } else {
    box = resize_center_crop_box(view.width, view.height, c.resize_short ? c.resize_short : size, size);
  }
  resample(view, box, size, size, c.filter, out);

  if (c.train && rng.uniform_double() < c.hflip_p) hflip(out, size, size);
  // On 0..255 values, as torchvision's ColorJitter on a PIL image before ToTensor and Normalize.
  // Disabled, it draws nothing: the erasing draws below stay those of a run without it.
  if (c.train && c.color_jitter.enabled())
    color_jitter(out, int64_t{size} * size, draw_color_jitter(c.color_jitter, rng));
  normalize(out, int64_t{size} * size, c.mean, c.std);
  if (c.train) {
    if (auto r = random_erasing_rect(size, size, c.erase_p, c.erase_area_min, c.erase_area_max, c.erase_aspect_min,
                                     c.erase_aspect_max, rng))
      fill_rect(out, size, *r, c.erase_fill);
  }
}

}  // namespace hsanet::data
