// explain_render.h's geometry: a map that is 1 in one cell lands on that cell's share of the
// image (non-square grids and images too), the query box outlines that share, and the colours,
// PNG and CSV say what they should.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/train/explain_render.h"
#include "data/decode.h"

namespace hsanet::train {
namespace {

MapGrid one_hot(int rows, int cols, int r, int c) {
  MapGrid g{rows, cols, std::vector<float>(static_cast<size_t>(rows) * cols, 0.f)};
  g.values[static_cast<size_t>(r) * cols + c] = 1.f;
  return g;
}

bool inside(const PixelBox& b, int y, int x) { return y >= b.y0 && y < b.y1 && x >= b.x0 && x < b.x1; }

// Every pixel the upsampled map sets above one half lies in the cell's share of the image, and
// the share's centre is the hottest pixel.
void check_cell_lands(int rows, int cols, int r, int c, int height, int width) {
  const std::vector<float> up = upsample_bilinear(one_hot(rows, cols, r, c), height, width);  // [height, width]
  ASSERT_EQ(up.size(), static_cast<size_t>(height) * width);
  const PixelBox box = cell_box(rows, cols, r, c, height, width);
  EXPECT_EQ(box.y1 - box.y0, height / rows);
  EXPECT_EQ(box.x1 - box.x0, width / cols);
  int hot = 0;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      if (up[static_cast<size_t>(y) * width + x] > 0.5f) {
        ++hot;
        EXPECT_TRUE(inside(box, y, x)) << "pixel (" << y << ", " << x << ") of cell (" << r << ", " << c << ")";
      }
  EXPECT_GT(hot, 0);
  const size_t top = std::max_element(up.begin(), up.end()) - up.begin();
  EXPECT_TRUE(inside(box, static_cast<int>(top / width), static_cast<int>(top % width)));
  const float centre = up[static_cast<size_t>((box.y0 + box.y1) / 2) * width + (box.x0 + box.x1) / 2];
  EXPECT_GT(centre, 0.75f);
}

TEST(ExplainRender, OneCellLandsOnItsImageRegion) {
  check_cell_lands(7, 7, 2, 5, 224, 224);
  check_cell_lands(3, 5, 1, 3, 60, 100);   // non-square grid and image
  check_cell_lands(4, 2, 3, 0, 128, 64);   // a corner cell, taller than wide
  check_cell_lands(14, 14, 0, 13, 224, 224);
}

TEST(ExplainRender, OverlayIsRedOnTheHotCellAndBlueElsewhere) {
  RgbImage face{40, 30, std::vector<uint8_t>(40 * 30 * 3, 128)};  // grey, 30 rows x 40 columns
  const RgbImage out = overlay_heat(face, one_hot(3, 4, 2, 1), 1.f);
  const PixelBox box = cell_box(3, 4, 2, 1, 30, 40);  // rows 20..29, columns 10..19
  EXPECT_EQ(box.y0, 20);
  EXPECT_EQ(box.x0, 10);
  const uint8_t* centre = out.at(15, 25);  // (x, y)
  EXPECT_EQ(centre[0], 255);
  EXPECT_LT(centre[2], 64);
  const uint8_t* far = out.at(35, 2);
  EXPECT_EQ(far[0], 0);
  EXPECT_EQ(far[2], 255);
  EXPECT_EQ(heat_colour(0.f), (std::array<uint8_t, 3>{0, 0, 255}));
  EXPECT_EQ(heat_colour(1.f), (std::array<uint8_t, 3>{255, 0, 0}));
  EXPECT_EQ(heat_colour(2.f), heat_colour(1.f));  // clamped
  EXPECT_EQ(heat_colour(std::nanf("")), heat_colour(0.f));  // a flat map's 0/0, not a wild read
}

TEST(ExplainRender, QueryBoxOutlinesTheCell) {
  RgbImage im{50, 20, std::vector<uint8_t>(50 * 20 * 3, 100)};  // 20 rows x 50 columns
  const PixelBox box = cell_box(2, 5, 1, 2, 20, 50);  // rows 10..19, columns 20..29
  draw_box(im, box);
  EXPECT_EQ(im.at(20, 10)[0], 255);  // the cell's top-left corner
  EXPECT_EQ(im.at(29, 19)[0], 255);  // its bottom-right corner
  EXPECT_EQ(im.at(19, 9)[0], 0);     // the dark edge just outside
  EXPECT_EQ(im.at(25, 15)[0], 100);  // the inside is left to see
  EXPECT_EQ(im.at(5, 5)[0], 100);
}

TEST(ExplainRender, PngAndCsvRoundTrip) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/explain_render_test.png";
  RgbImage im{12, 8, {}};  // the decoder refuses sides under 8
  for (int i = 0; i < 12 * 8 * 3; ++i) im.pixels.push_back(static_cast<uint8_t>(i * 7));
  write_png(path, im);
  const data::Image back = data::decode_image_file(path);
  EXPECT_EQ(back.width, 12);
  EXPECT_EQ(back.height, 8);
  EXPECT_EQ(back.pixels, im.pixels);
  std::remove(path.c_str());
  try {
    write_png(dir + "/no/such/folder/x.png", im);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/folder/x.png: cannot write the PNG"), std::string::npos);
  }
  MapGrid g{2, 3, {0, 0.5f, 1, 0.25f, 0, 0}};
  EXPECT_EQ(map_csv(g), "0,0.5,1\n0.25,0,0\n");
  EXPECT_EQ(normalised(MapGrid{1, 2, {2, 4}}).values, (std::vector<float>{0.5f, 1.f}));
}

}  // namespace
}  // namespace hsanet::train
