// Test helpers that write small image files byte by byte, so that each test can make exactly
// the good or broken file it needs at run time (in a temporary folder) instead of committing
// binaries. Only the JPEG variants stb_image_write cannot produce are committed (see
// make_jpeg_fixtures.c).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace hsanet::data::testing {

using Bytes = std::vector<uint8_t>;

// A smooth RGB test pattern: red = 40 + 4x, green = 30 + 4y, blue = 160 (JPEG-friendly), for
// w <= 48 and h <= 40 it matches the committed JPEG fixtures.
Image pattern_image(int width, int height);

// One PNG chunk: length, type, data, CRC (a correct CRC unless `crc_xor` is non-zero).
Bytes png_chunk(const std::string& type, const Bytes& data, uint32_t crc_xor = 0);
// IHDR payload.
Bytes png_ihdr(uint32_t width, uint32_t height, int bit_depth, int colour_type, int interlace = 0);
// A zlib stream (stored blocks, no compression) holding `raw`.
Bytes zlib_stored(const Bytes& raw);
// A PNG from samples: channels per colour type (0:1, 2:3, 3:1 palette index, 4:2, 6:4), bit depth
// 8 or 16 (16-bit samples big-endian as PNG stores them). `palette` (RGB triples) for type 3.
// `interlace` stores the rows in Adam7 order.
Bytes make_png(int width, int height, int colour_type, int bit_depth, const std::vector<uint16_t>& samples,
               const Bytes& palette = {}, bool interlace = false);
Bytes make_png_rgb(const Image& image);

// Uncompressed 24-bit BMP, bottom-up (the usual) or top-down (negative height).
Bytes make_bmp24(const Image& image, bool top_down = false);
// Binary PNM: kind '5' (grey, 1 sample per pixel) or '6' (RGB); 2 bytes per sample when maxval > 255.
Bytes make_pnm(char kind, int width, int height, int maxval, const std::vector<uint16_t>& samples);
// Baseline JPEG through stb_image_write.
Bytes make_jpeg(const Image& image, int quality = 95);

// A private temporary folder, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
  // Writes bytes to path()/rel, creating parent folders. Returns the full path.
  std::string write(const std::string& rel, const Bytes& bytes) const;
  std::string mkdir(const std::string& rel) const;

 private:
  std::string path_;
};

Bytes read_bytes(const std::string& path);

// The repository root (HSANET_SOURCE_DIR, set by ctest; else the current folder).
std::string source_dir();

}  // namespace hsanet::data::testing
