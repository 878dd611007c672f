// Drawing explain.h's maps over the face: bilinear upsampling of a grid to the image size, a
// colour map, a box around a query cell, and the PNG and CSV files `hsanet explain` writes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/train/explain.h"
#include "autograd/tensor.h"

namespace hsanet::train {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3]
  uint8_t* at(int x, int y) { return pixels.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* at(int x, int y) const { return pixels.data() + (static_cast<size_t>(y) * width + x) * 3; }
};

// The network's input [1, H, W, 3] turned back into pixels: x * std + mean, times 255, clamped.
RgbImage image_from_input(const Tensor& input, const std::array<float, 3>& mean, const std::array<float, 3>& std);

// The grid resampled to height x width, each cell covering an equal share of the image and its
// value sitting at the cell's centre (half-pixel centres, edges clamped: PyTorch's bilinear
// interpolate with align_corners=False). Returns [height, width].
std::vector<float> upsample_bilinear(const MapGrid& grid, int height, int width);

// A blue (0) - cyan - yellow - red (1) colour for a value in [0, 1] (clamped).
std::array<uint8_t, 3> heat_colour(float v);

// The face blended with the colour-mapped map (upsampled to the face's size); alpha is the
// heat's weight. The map is shown as it is: normalise it first to use the whole colour range.
RgbImage overlay_heat(const RgbImage& face, const MapGrid& map, float alpha = 0.5f);

// The image rectangle of cell (row, col) of a rows x cols grid: rows [y0, y1), columns [x0, x1).
struct PixelBox {
  int y0 = 0, x0 = 0, y1 = 0, x1 = 0;
};
PixelBox cell_box(int rows, int cols, int row, int col, int height, int width);
// A one-pixel outline of the box, in white with a black outline around it.
void draw_box(RgbImage& image, const PixelBox& box);

// Divided by the maximum, so that the hottest cell is 1 (unchanged when all are 0).
MapGrid normalised(MapGrid grid);

// Writes a PNG; throws std::runtime_error naming the path when it cannot.
void write_png(const std::string& path, const RgbImage& image);
// The grid as CSV: rows lines of cols comma-separated values.
std::string map_csv(const MapGrid& grid);

}  // namespace hsanet::train
