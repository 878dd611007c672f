// PNG structure check: signature, then every chunk's length and CRC, from IHDR to IEND
// (PNG specification, ISO/IEC 15948, sections 5 and 11).
//
// stb_image skips CRCs, so a flipped bit in compressed data can decode to a picture with a wrong
// stripe and no error. Checking every CRC here turns that into "bad CRC in chunk IDAT".
#include <algorithm>
#include <array>
#include <string>

#include "data/bytes.h"
#include "data/data_error.h"
#include "data/header_check.h"

namespace hsanet::data {

namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;  // reflected 0x04C11DB7
    table[n] = c;
  }
  return table;
}

bool is_letter(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// Valid (colour type, bit depth) pairs, and the samples per pixel of each colour type.
int png_channels(int colour_type) {
  switch (colour_type) {
    case 0: return 1;  // grey
    case 2: return 3;  // RGB
    case 3: return 1;  // palette index
    case 4: return 2;  // grey + alpha
    case 6: return 4;  // RGBA
    default: return 0;
  }
}

bool depth_allowed(int colour_type, int depth) {
  switch (colour_type) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return false;
  }
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

HeaderInfo check_png(const uint8_t* data, size_t size, const std::string& name) {
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (size < 8 || !std::equal(signature, signature + 8, data))
    throw DataError(name, "corrupt PNG: bad signature (file damaged by a text-mode transfer?)");

  HeaderInfo info;
  info.format = ImageFormat::Png;
  bool seen_header = false, seen_palette = false, seen_data = false, seen_end = false;
  int colour_type = 0;
  size_t pos = 8;
  while (!seen_end) {
    if (pos + 12 > size)
      throw DataError(name, "PNG truncated: the file ends at byte " + std::to_string(size) +
                                (seen_data ? " before its IEND chunk" : " before any image data"));
    const uint32_t len = read_be32(data + pos);
    const uint8_t* type = data + pos + 4;
    const std::string type_name(reinterpret_cast<const char*>(type), 4);
    if (!is_letter(type[0]) || !is_letter(type[1]) || !is_letter(type[2]) || !is_letter(type[3]))
      throw DataError(name, "corrupt PNG: invalid chunk type at byte " + std::to_string(pos));
    if (len > 0x7FFFFFFFu || len > size - pos - 12)
      throw DataError(name, "PNG truncated: chunk " + type_name + " at byte " + std::to_string(pos) + " needs " +
                                std::to_string(len) + " bytes, the file has " + std::to_string(size - pos - 12));
    const uint8_t* payload = type + 4;
    const uint32_t stored_crc = read_be32(payload + len);
    if (crc32(type, len + 4) != stored_crc)
      throw DataError(name, "corrupt PNG: bad CRC in chunk " + type_name + " at byte " + std::to_string(pos));
    if (!seen_header && type_name != "IHDR")
      throw DataError(name, type_name == "CgBI" ? "Apple-optimised PNG (CgBI) is not supported"
                                                : "corrupt PNG: the first chunk is " + type_name + ", not IHDR");

    if (type_name == "IHDR") {
      if (seen_header) throw DataError(name, "corrupt PNG: a second IHDR chunk");
      if (len != 13) throw DataError(name, "corrupt PNG: IHDR has length " + std::to_string(len));
      seen_header = true;
      info.width = read_be32(payload);
      info.height = read_be32(payload + 4);
      info.bit_depth = payload[8];
      colour_type = payload[9];
      if (info.width == 0 || info.height == 0 || info.width > 0x7FFFFFFF || info.height > 0x7FFFFFFF)
        throw DataError(name, "corrupt PNG: size " + std::to_string(info.width) + "x" + std::to_string(info.height));
      if (!depth_allowed(colour_type, info.bit_depth))
        throw DataError(name, "corrupt PNG: colour type " + std::to_string(colour_type) + " with bit depth " +
                                  std::to_string(info.bit_depth));
      if (payload[10] != 0 || payload[11] != 0)
        throw DataError(name, "corrupt PNG: unknown compression or filter method");
      if (payload[12] > 1) throw DataError(name, "corrupt PNG: unknown interlace method");
      info.channels = png_channels(colour_type);
      info.progressive = payload[12] == 1;
    } else if (type_name == "PLTE") {
      if (seen_data) throw DataError(name, "corrupt PNG: PLTE after image data");
      if (len == 0 || len % 3 != 0 || len > 256 * 3)
        throw DataError(name, "corrupt PNG: palette of " + std::to_string(len) + " bytes");
      seen_palette = true;
    } else if (type_name == "IDAT") {
      seen_data = true;
    } else if (type_name == "IEND") {
      seen_end = true;
    } else if (!(type[0] & 0x20)) {  // lower-case first letter: ancillary, safe to skip
      throw DataError(name, "PNG with unknown critical chunk " + type_name + " is not supported");
    }
    pos += 12 + len;
  }
  if (!seen_data) throw DataError(name, "corrupt PNG: no image data (IDAT)");
  if (colour_type == 3 && !seen_palette) throw DataError(name, "corrupt PNG: palette image without a PLTE chunk");
  return info;
}

}  // namespace hsanet::data
