// Image: one decoded picture, 8-bit RGB, rows top to bottom, pixels left to right, channels last.
// Every decoder output is converted to this one form (grey is replicated to three channels), so the
// transforms have a single input type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hsanet::data {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3]

  static constexpr int kChannels = 3;
  Image() = default;
  Image(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * h * kChannels) {}
  uint8_t* at(int x, int y) { return pixels.data() + (static_cast<size_t>(y) * width + x) * kChannels; }
  const uint8_t* at(int x, int y) const {
    return pixels.data() + (static_cast<size_t>(y) * width + x) * kChannels;
  }
};

// A read-only window into an Image (a crop without a copy).
struct ImageView {
  const uint8_t* data = nullptr;  // pixel (0, 0) of the window
  int width = 0;
  int height = 0;
  int stride = 0;  // distance between rows, in pixels (the full image's width)

  ImageView() = default;
  explicit ImageView(const Image& im) : data(im.pixels.data()), width(im.width), height(im.height),
                                        stride(im.width) {}
  const uint8_t* row(int y) const { return data + static_cast<size_t>(y) * stride * Image::kChannels; }
  // The sub-window [x, x + w) x [y, y + h); the caller keeps it inside this view.
  ImageView sub(int x, int y, int w, int h) const {
    ImageView v = *this;
    v.data = row(y) + static_cast<size_t>(x) * Image::kChannels;
    v.width = w;
    v.height = h;
    return v;
  }
};

}  // namespace hsanet::data
