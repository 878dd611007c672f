#include "apps/train/thumbnail.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "apps/train/base64.h"
#include "data/decode.h"
#include "data/resample.h"

// stb_image_write, compiled here alone with static functions (the test fixtures compile their own).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "stb_image_write.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace hsanet::train {

data::Image shrink_to_fit(const data::Image& image, int max_side) {
  const int longer = std::max(image.width, image.height);
  if (longer <= max_side || longer == 0) return image;
  const double scale = static_cast<double>(max_side) / longer;
  const int w = std::max(1, static_cast<int>(std::lround(image.width * scale)));
  const int h = std::max(1, static_cast<int>(std::lround(image.height * scale)));
  std::vector<float> out(static_cast<size_t>(w) * h * 3);
  data::resample(data::ImageView(image), {0, 0, static_cast<double>(image.width), static_cast<double>(image.height)},
                 w, h, data::ResizeFilter::Area, out.data());
  data::Image small(w, h);
  for (size_t i = 0; i < out.size(); ++i)
    small.pixels[i] = static_cast<uint8_t>(std::clamp(std::lround(out[i]), 0L, 255L));
  return small;
}

std::string encode_png(const data::Image& image) {
  std::string bytes;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &bytes, image.width, image.height, data::Image::kChannels,
                              image.pixels.data(), image.width * data::Image::kChannels))
    throw std::runtime_error("PNG encoding failed");
  return bytes;
}

std::string thumbnail_data_uri(const std::string& image_path, int max_side) {
  const data::Image small = shrink_to_fit(data::decode_image_file(image_path), max_side);
  return "data:image/png;base64," + base64_encode(encode_png(small));
}

}  // namespace hsanet::train
