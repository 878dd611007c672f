// PNM header check (Netpbm): binary greymaps P5 and pixmaps P6.
//
// Header: "P5" or "P6", then width, height and maxval as decimal numbers separated by white space
// (with '#' comments to the end of a line), then exactly one white-space byte, then the samples:
// one byte each when maxval < 256, two big-endian bytes otherwise.
#include <string>

#include "data/bytes.h"
#include "data/data_error.h"
#include "data/header_check.h"

namespace hsanet::data {

namespace {

bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Reads one header number at `pos`, skipping white space and comments before it.
int64_t read_number(const uint8_t* data, size_t size, size_t& pos, const char* what, const std::string& name) {
  for (;;) {
    while (pos < size && is_space(data[pos])) ++pos;
    if (pos < size && data[pos] == '#') {
      while (pos < size && data[pos] != '\n' && data[pos] != '\r') ++pos;
      continue;
    }
    break;
  }
  if (pos >= size) throw DataError(name, std::string("PNM truncated in its header (no ") + what + ")");
  if (data[pos] < '0' || data[pos] > '9')
    throw DataError(name, std::string("corrupt PNM header: ") + what + " is not a number");
  int64_t value = 0;
  while (pos < size && data[pos] >= '0' && data[pos] <= '9') {
    value = value * 10 + (data[pos++] - '0');
    if (value > 0x7FFFFFFF) throw DataError(name, std::string("corrupt PNM header: ") + what + " is too large");
  }
  return value;
}

}  // namespace

HeaderInfo check_pnm(const uint8_t* data, size_t size, const std::string& name) {
  const char kind = static_cast<char>(data[1]);
  if (kind == '1' || kind == '2' || kind == '3' || kind == '4')
    throw DataError(name, std::string("PNM type P") + kind +
                              " (plain-text or 1-bit) is not supported: save as binary P5 (grey) or P6 (colour)");
  if (kind == '7') throw DataError(name, "PAM (P7) images are not supported: save as binary P5 or P6");

  HeaderInfo info;
  info.format = ImageFormat::Pnm;
  info.channels = kind == '5' ? 1 : 3;
  size_t pos = 2;
  if (pos >= size || !is_space(data[pos])) throw DataError(name, "corrupt PNM header after the P5/P6 tag");
  info.width = read_number(data, size, pos, "width", name);
  info.height = read_number(data, size, pos, "height", name);
  info.pnm_maxval = static_cast<int>(read_number(data, size, pos, "maxval", name));
  if (info.width == 0 || info.height == 0)
    throw DataError(name, "corrupt PNM: size " + std::to_string(info.width) + "x" + std::to_string(info.height));
  if (info.pnm_maxval < 1 || info.pnm_maxval > 65535)
    throw DataError(name, "corrupt PNM: maxval " + std::to_string(info.pnm_maxval) + " (must be 1..65535)");
  if (pos >= size || !is_space(data[pos])) throw DataError(name, "corrupt PNM header: no white space after maxval");
  ++pos;  // exactly one white-space byte separates the header from the samples
  info.pnm_data_offset = pos;
  info.bit_depth = info.pnm_maxval > 255 ? 16 : 8;

  const int64_t sample_bytes = info.bit_depth / 8;
  const int64_t available = static_cast<int64_t>(size - pos);
  const int64_t row = info.width * info.channels * sample_bytes;  // < 2^31 * 6
  if (row > available / info.height)
    throw DataError(name, "PNM truncated: " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                              " needs " + product_str(row, info.height) + " bytes of samples, the file has " +
                              std::to_string(available));
  return info;
}

}  // namespace hsanet::data
