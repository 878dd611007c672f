#include "apps/train/explain_render.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace hsanet::train {

RgbImage image_from_input(const Tensor& input, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  if (input.ndim() != 4 || input.size(0) != 1 || input.size(3) != 3)
    throw std::invalid_argument("image_from_input: needs [1, H, W, 3], got " + shape_str(input.shape()));
  RgbImage im;
  im.height = static_cast<int>(input.size(1));
  im.width = static_cast<int>(input.size(2));
  im.pixels.resize(static_cast<size_t>(im.height) * im.width * 3);  // [H, W, 3]
  const float* x = input.data();
  for (size_t i = 0; i < im.pixels.size(); ++i) {
    const float v = (x[i] * std[i % 3] + mean[i % 3]) * 255.f;
    im.pixels[i] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
  }
  return im;
}

std::vector<float> upsample_bilinear(const MapGrid& grid, int height, int width) {
  if (grid.rows <= 0 || grid.cols <= 0 || static_cast<int64_t>(grid.values.size()) != int64_t(grid.rows) * grid.cols)
    throw std::invalid_argument("upsample_bilinear: the grid's values do not fill its rows x cols");
  std::vector<float> out(static_cast<size_t>(height) * width);  // [height, width]
  // Source coordinate of a pixel centre, clamped to the outer cell centres.
  auto source = [](int i, int out_n, int in_n, int& lo, int& hi, float& t) {
    const float s = std::clamp((i + 0.5f) * static_cast<float>(in_n) / out_n - 0.5f, 0.f, float(in_n - 1));
    lo = static_cast<int>(std::floor(s));
    hi = std::min(lo + 1, in_n - 1);
    t = s - lo;
  };
  for (int y = 0; y < height; ++y) {
    int r0, r1;
    float ty;
    source(y, height, grid.rows, r0, r1, ty);
    for (int x = 0; x < width; ++x) {
      int c0, c1;
      float tx;
      source(x, width, grid.cols, c0, c1, tx);
      const float top = grid.at(r0, c0) * (1 - tx) + grid.at(r0, c1) * tx;
      const float bottom = grid.at(r1, c0) * (1 - tx) + grid.at(r1, c1) * tx;
      out[static_cast<size_t>(y) * width + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

std::array<uint8_t, 3> heat_colour(float v) {
  // A flat map normalised by its zero range is NaN, which clamp passes through and the index
  // below would turn into an out-of-bounds read: it is drawn as 0.
  v = std::isnan(v) ? 0.f : std::clamp(v, 0.f, 1.f);
  // Piecewise linear through blue, cyan, yellow, red at 0, 1/3, 2/3, 1.
  static const float stops[4][3] = {{0, 0, 255}, {0, 255, 255}, {255, 255, 0}, {255, 0, 0}};
  const float s = v * 3.f;
  const int i = std::min(static_cast<int>(s), 2);
  const float t = s - i;
  std::array<uint8_t, 3> c;
  for (int k = 0; k < 3; ++k) c[k] = static_cast<uint8_t>(std::lround(stops[i][k] * (1 - t) + stops[i + 1][k] * t));
  return c;
}

RgbImage overlay_heat(const RgbImage& face, const MapGrid& map, float alpha) {
  const std::vector<float> heat = upsample_bilinear(map, face.height, face.width);  // [H, W]
  RgbImage out = face;
  for (int y = 0; y < face.height; ++y)
    for (int x = 0; x < face.width; ++x) {
      const auto c = heat_colour(heat[static_cast<size_t>(y) * face.width + x]);
      uint8_t* p = out.at(x, y);
      for (int k = 0; k < 3; ++k) p[k] = static_cast<uint8_t>(std::lround(p[k] * (1 - alpha) + c[k] * alpha));
    }
  return out;
}

PixelBox cell_box(int rows, int cols, int row, int col, int height, int width) {
  // Cell r covers [r * height / rows, (r + 1) * height / rows): the same share upsampling gives it.
  auto edge = [](int i, int n, int size) { return static_cast<int>(std::lround(double(i) * size / n)); };
  return {edge(row, rows, height), edge(col, cols, width), edge(row + 1, rows, height), edge(col + 1, cols, width)};
}

void draw_box(RgbImage& image, const PixelBox& box) {
  auto paint = [&](int x, int y, uint8_t v) {
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
    uint8_t* p = image.at(x, y);
    p[0] = p[1] = p[2] = v;
  };
  auto outline = [&](int y0, int x0, int y1, int x1, uint8_t v) {  // inclusive corners
    for (int x = x0; x <= x1; ++x) paint(x, y0, v), paint(x, y1, v);
    for (int y = y0; y <= y1; ++y) paint(x0, y, v), paint(x1, y, v);
  };
  outline(box.y0 - 1, box.x0 - 1, box.y1, box.x1, 0);      // dark edge outside
  outline(box.y0, box.x0, box.y1 - 1, box.x1 - 1, 255);   // white edge on the cell's border
}

MapGrid normalised(MapGrid grid) {
  const float top = grid.values.empty() ? 0.f : *std::max_element(grid.values.begin(), grid.values.end());
  if (top > 0)
    for (float& v : grid.values) v /= top;
  return grid;
}

void write_png(const std::string& path, const RgbImage& image) {
  if (!stbi_write_png(path.c_str(), image.width, image.height, 3, image.pixels.data(), image.width * 3))
    throw std::runtime_error(path + ": cannot write the PNG (does the folder exist, is it writable?)");
}

std::string map_csv(const MapGrid& grid) {
  std::string s;
  for (int r = 0; r < grid.rows; ++r) {
    for (int c = 0; c < grid.cols; ++c) {
      if (c) s += ',';
      s += fmt::format("{:.6g}", grid.at(r, c));
    }
    s += '\n';
  }
  return s;
}

}  // namespace hsanet::train
