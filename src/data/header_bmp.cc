// BMP header check: file header, DIB header and the extent of the pixel array.
//
// stb_image reads zeros past the end of a short BMP (a black band, no error), so the pixel array
// must fit in the file before we decode. Accepted: the header sizes stb understands (12, 40, 56,
// 108, 124 bytes), 1/4/8/16/24/32 bits per pixel, uncompressed or BI_BITFIELDS.
#include <string>

#include "data/bytes.h"
#include "data/data_error.h"
#include "data/header_check.h"

namespace hsanet::data {

HeaderInfo check_bmp(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 14 + 12) throw DataError(name, "BMP truncated in its header (" + std::to_string(size) + " bytes)");
  HeaderInfo info;
  info.format = ImageFormat::Bmp;
  const uint32_t pixel_offset = read_le32(data + 10);
  const uint32_t dib_size = read_le32(data + 14);
  if (dib_size != 12 && dib_size != 40 && dib_size != 56 && dib_size != 108 && dib_size != 124)
    throw DataError(name, "BMP with a " + std::to_string(dib_size) + "-byte info header is not supported");
  if (size < 14 + static_cast<size_t>(dib_size))
    throw DataError(name, "BMP truncated in its header (" + std::to_string(size) + " bytes)");

  const uint8_t* dib = data + 14;
  int64_t width, height;
  uint32_t planes, bpp, compression = 0;
  if (dib_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit unsigned sizes
    width = read_le16(dib + 4);
    height = read_le16(dib + 6);
    planes = read_le16(dib + 8);
    bpp = read_le16(dib + 10);
  } else {  // BITMAPINFOHEADER and its extensions: signed 32-bit sizes, negative height = top-down
    width = static_cast<int32_t>(read_le32(dib + 4));
    height = static_cast<int32_t>(read_le32(dib + 8));
    planes = read_le16(dib + 12);
    bpp = read_le16(dib + 14);
    compression = read_le32(dib + 16);
  }
  if (height < 0) height = -height;  // int64: -INT32_MIN does not overflow
  if (width <= 0 || height == 0)
    throw DataError(name, "corrupt BMP: size " + std::to_string(width) + "x" + std::to_string(height));
  if (planes != 1) throw DataError(name, "corrupt BMP: " + std::to_string(planes) + " colour planes");
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    throw DataError(name, "BMP with " + std::to_string(bpp) + " bits per pixel is not supported");
  if (compression == 1 || compression == 2)
    throw DataError(name, "run-length-compressed BMP is not supported (save it uncompressed)");
  if (compression == 4 || compression == 5)
    throw DataError(name, "BMP with an embedded JPEG/PNG is not supported");
  if (compression == 3 && bpp != 16 && bpp != 32)
    throw DataError(name, "corrupt BMP: bit-field masks with " + std::to_string(bpp) + " bits per pixel");
  if (compression > 3) throw DataError(name, "BMP compression " + std::to_string(compression) + " is not supported");

  // Rows are padded to a multiple of 4 bytes. 64-bit arithmetic: width < 2^31, bpp <= 32.
  const int64_t row_bytes = (width * bpp + 31) / 32 * 4;
  const int64_t header_end = 14 + static_cast<int64_t>(dib_size);
  if (pixel_offset < header_end || pixel_offset > size)
    throw DataError(name, "corrupt BMP: pixel data offset " + std::to_string(pixel_offset) + " outside the file");
  if (row_bytes > (static_cast<int64_t>(size) - pixel_offset) / height)
    throw DataError(name, "BMP truncated: " + std::to_string(width) + "x" + std::to_string(height) + " at " +
                              std::to_string(bpp) + " bits needs " + product_str(row_bytes, height) +
                              " bytes of pixels, the file has " + std::to_string(size - pixel_offset));
  info.width = width;
  info.height = height;
  info.channels = bpp == 32 ? 4 : 3;
  info.bit_depth = 8;
  return info;
}

}  // namespace hsanet::data
