// Our own checks of an image file's header and structure, run before any decoder sees the bytes.
//
// stb_image trusts its input more than we want to: it reads zeros past the end of a truncated
// JPEG or BMP (a half-grey picture, not an error), never checks PNG CRCs, and learns an image's
// size only while decoding it. These parsers read the container format alone (no pixel decoding):
// they identify the format from its signature, name foreign formats renamed to an image
// extension, walk the JPEG segments / PNG chunks / BMP and PNM headers, and report the size, the
// colour layout and any truncation or corruption they can see. Only files that pass reach stb.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hsanet::data {

enum class ImageFormat { Jpeg, Png, Bmp, Pnm };
const char* format_name(ImageFormat format);

struct HeaderInfo {
  ImageFormat format = ImageFormat::Jpeg;
  int64_t width = 0;
  int64_t height = 0;
  int channels = 0;     // as stored: 1 grey, 2 grey+alpha, 3 colour, 4 RGBA or CMYK
  int bit_depth = 8;    // bits per stored sample (PNG 1..16, PNM 8 or 16)
  bool progressive = false;  // JPEG SOF2, or PNG Adam7 interlacing
  int pnm_maxval = 255;      // PNM only: the sample value that means full intensity
  size_t pnm_data_offset = 0;  // PNM only: where the samples start
  int jpeg_adobe_transform = -1;  // JPEG only: Adobe APP14 colour transform (0 CMYK, 1 YCbCr, 2 YCCK)
};

// Checks `data` ([size] bytes of a file called `name`) and returns what its header says.
// Throws DataError(name, reason) for anything that is not an accepted, structurally complete
// JPEG, PNG, BMP or binary PNM file.
HeaderInfo check_header(const uint8_t* data, size_t size, const std::string& name);

// Per-format parsers behind check_header (each expects its own signature at data[0]).
HeaderInfo check_jpeg(const uint8_t* data, size_t size, const std::string& name);
HeaderInfo check_png(const uint8_t* data, size_t size, const std::string& name);
HeaderInfo check_bmp(const uint8_t* data, size_t size, const std::string& name);
HeaderInfo check_pnm(const uint8_t* data, size_t size, const std::string& name);

// Describes bytes that are none of the accepted formats: "a GIF image", "a text file
// (starts with \"hello\")", or the first bytes in hex. Used for the error message.
std::string describe_unknown_content(const uint8_t* data, size_t size);

// CRC-32 as PNG defines it (ISO 3309 polynomial, reflected, initial and final XOR 0xFFFFFFFF).
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace hsanet::data
