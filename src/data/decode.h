// Decoding untrusted image files into Images.
//
// The path is: read the file (file_bytes.h) -> check its header and structure ourselves
// (header_check.h) -> check the size against DecodeLimits -> decode JPEG, PNG and BMP with
// stb_image, compiled in decode.cc alone with only those formats, under a memory budget derived
// from the header (binary PNM is read directly) -> convert to 8-bit RGB. Every failure is a DataError naming the file and the reason; no input
// may crash, hang or come back as a silently wrong picture.
//
// Accepted: JPEG (baseline and progressive, grey/YCbCr, and CMYK/YCCK with an Adobe marker), PNG
// (every colour type and bit depth, interlaced or not; 16-bit samples keep their high byte; alpha
// is dropped), BMP (uncompressed 1-32 bits per pixel, bit fields), binary PNM (P5/P6, any maxval:
// samples are rescaled to 0..255). Grey images are replicated to three channels. EXIF orientation
// is not applied (neither does the PyTorch reference, which uses PIL's plain open).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "data/header_check.h"
#include "data/image.h"

namespace hsanet::data {

// stb_image is compiled with STBI_MAX_DIMENSIONS at this value: a second wall behind max_side.
inline constexpr int kMaxSideCompiled = 16384;

struct DecodeLimits {
  int64_t max_file_bytes = int64_t{64} << 20;  // larger files are refused before reading
  int max_side = 8192;                         // pixels, either side (at most kMaxSideCompiled)
  int64_t max_pixels = 32'000'000;             // width * height
  int min_side = 8;          // smaller sides carry no face, and a 1x5000 strip resized by its
                             // short side to 224 would be 224x1120000
  double max_aspect = 10.0;  // longer side / shorter side
};

// Throws DataError(name, reason) when the header's size breaks a limit.
void check_limits(const HeaderInfo& info, const std::string& name, const DecodeLimits& limits);

// Decodes a file. Throws DataError(path, reason).
Image decode_image_file(const std::string& path, const DecodeLimits& limits = {});

// Decodes `size` bytes at `data`; `name` is used in error messages.
Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name,
                          const DecodeLimits& limits = {});

}  // namespace hsanet::data
