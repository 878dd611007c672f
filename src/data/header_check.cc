// Format identification: dispatch on the file signature, and name what we refuse.
#include "data/header_check.h"

#include <cstring>

#include "data/bytes.h"
#include "data/data_error.h"

namespace hsanet::data {

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Pnm: return "PNM";
  }
  return "?";
}

namespace {

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

}  // namespace

HeaderInfo check_header(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) throw DataError(name, "empty file (0 bytes)");
  if (starts_with(data, size, "\xFF\xD8", 2)) return check_jpeg(data, size, name);
  if (starts_with(data, size, "\x89PNG", 4)) return check_png(data, size, name);
  if (starts_with(data, size, "BM", 2)) return check_bmp(data, size, name);
  if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7') return check_pnm(data, size, name);
  throw DataError(name, "not a JPEG, PNG, BMP or PNM image: " + describe_unknown_content(data, size));
}

std::string describe_unknown_content(const uint8_t* data, size_t size) {
  struct Magic {
    const char* bytes;
    size_t n;
    const char* what;
  };
  // Formats people save faces in, or that end up renamed to .jpg by download tools.
  static const Magic magics[] = {
      {"GIF87a", 6, "a GIF image"},
      {"GIF89a", 6, "a GIF image"},
      {"8BPS", 4, "a Photoshop (PSD) image"},
      {"II*\0", 4, "a TIFF image"},
      {"MM\0*", 4, "a TIFF image"},
      {"#?RADIANCE", 10, "a Radiance HDR image"},
      {"#?RGBE", 6, "a Radiance HDR image"},
      {"\x53\x80\xF6\x34", 4, "a Softimage PIC image"},
      {"\0\0\1\0", 4, "a Windows icon"},
      {"\0\0\0\x0CjP  ", 8, "a JPEG 2000 image"},
      {"\xFF\x4F\xFF\x51", 4, "a JPEG 2000 codestream"},
      {"\xFF\x0A", 2, "a JPEG XL image"},
      {"%PDF", 4, "a PDF document"},
      {"PK\3\4", 4, "a ZIP archive"},
      {"\x1F\x8B", 2, "a gzip archive"},
  };
  for (const Magic& m : magics)
    if (starts_with(data, size, m.bytes, m.n)) return std::string(m.what) + " (unsupported format)";
  if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0)
    return "a WebP image (unsupported format)";
  if (size >= 12 && std::memcmp(data + 4, "ftyp", 4) == 0)
    return "an ISO media file (HEIF/AVIF image or video; unsupported format)";

  // Text (an HTML error page saved as .jpg, a note renamed): printable ASCII or UTF-8 only.
  size_t n = size < 64 ? size : 64;
  bool text = true;
  for (size_t i = 0; i < n && text; ++i) {
    uint8_t c = data[i];
    text = c == '\n' || c == '\r' || c == '\t' || (c >= 0x20 && c != 0x7F);
  }
  if (text) {
    std::string head;
    for (size_t i = 0; i < n && head.size() < 24; ++i)
      head += (data[i] >= 0x20 && data[i] < 0x7F && data[i] != '"') ? static_cast<char>(data[i]) : ' ';
    return "a text file (starts with \"" + head + "\")";
  }
  std::string out = "unrecognised content (first bytes";
  for (size_t i = 0; i < size && i < 8; ++i) {
    out += ' ';
    out += hex_byte(data[i]);
  }
  out += ')';
  return out;
}

}  // namespace hsanet::data
