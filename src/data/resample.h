// Resampling a rectangle of an 8-bit RGB image to a float RGB image of any size.
//
// One routine serves resize, crop-then-resize and random resized crop: the source rectangle is
// given in continuous pixel coordinates (pixel x covers [x, x + 1), its centre is x + 0.5), and
// each output pixel is a normalised weighted sum of source pixels, separably: rows first, then
// columns.
// - Bilinear: a triangle filter. When shrinking, its support widens by the scale factor so that
//   every source pixel contributes (antialiasing, as PIL's BILINEAR resize does; plain 2x2
//   bilinear sampling would alias when a 250-pixel face becomes 112 pixels).
// - Area: when shrinking, each output pixel is the exact average of the source area it covers
//   (fractional edge pixels weighted by their overlap); when enlarging it falls back to bilinear.
// The filter never reads outside the view, so resampling a crop view does not bleed in pixels
// from beyond the crop.
#pragma once

#include "data/image.h"

namespace hsanet::data {

enum class ResizeFilter { Bilinear, Area };

// A rectangle in continuous source coordinates: [x0, x1) x [y0, y1).
struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// dst: [out_h, out_w, 3] floats in 0..255. The box must have positive width and height.
void resample(const ImageView& src, const Box& box, int out_w, int out_h, ResizeFilter filter, float* dst);

}  // namespace hsanet::data
