#include "data_fixtures/fixture_writers.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "data/header_check.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "stb_image_write.h"
#pragma GCC diagnostic pop

namespace hsanet::data::testing {

namespace fs = std::filesystem;

namespace {

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}
void put_le16(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void put_le32(Bytes& b, uint32_t v) {
  put_le16(b, v & 0xFFFF);
  put_le16(b, v >> 16);
}

}  // namespace

Image pattern_image(int width, int height) {
  Image im(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      uint8_t* p = im.at(x, y);
      p[0] = static_cast<uint8_t>(40 + 4 * x);
      p[1] = static_cast<uint8_t>(30 + 4 * y);
      p[2] = 160;
    }
  return im;
}

Bytes png_chunk(const std::string& type, const Bytes& data, uint32_t crc_xor) {
  Bytes out;
  put_be32(out, static_cast<uint32_t>(data.size()));
  Bytes body(type.begin(), type.end());
  body.insert(body.end(), data.begin(), data.end());
  out.insert(out.end(), body.begin(), body.end());
  put_be32(out, crc32(body.data(), body.size()) ^ crc_xor);
  return out;
}

Bytes png_ihdr(uint32_t width, uint32_t height, int bit_depth, int colour_type, int interlace) {
  Bytes d;
  put_be32(d, width);
  put_be32(d, height);
  d.push_back(static_cast<uint8_t>(bit_depth));
  d.push_back(static_cast<uint8_t>(colour_type));
  d.push_back(0);  // compression
  d.push_back(0);  // filter method
  d.push_back(static_cast<uint8_t>(interlace));
  return d;
}

Bytes zlib_stored(const Bytes& raw) {
  Bytes z = {0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    z.push_back(pos + n == raw.size() ? 1 : 0);  // BFINAL, BTYPE 00 (stored)
    put_le16(z, static_cast<uint32_t>(n));
    put_le16(z, static_cast<uint32_t>(~n & 0xFFFF));
    z.insert(z.end(), raw.begin() + pos, raw.begin() + pos + n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;  // Adler-32
  for (uint8_t c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, (b << 16) | a);
  return z;
}

Bytes make_png(int width, int height, int colour_type, int bit_depth, const std::vector<uint16_t>& samples,
               const Bytes& palette, bool interlace) {
  const int channels = colour_type == 2 ? 3 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 1;
  if (samples.size() != static_cast<size_t>(width) * height * channels)
    throw std::invalid_argument("make_png: sample count");
  // Adam7 passes as (x0, y0, dx, dy); a non-interlaced image is one pass (0, 0, 1, 1).
  struct Pass {
    int x0, y0, dx, dy;
  };
  const std::vector<Pass> passes =
      interlace ? std::vector<Pass>{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                    {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
                : std::vector<Pass>{{0, 0, 1, 1}};
  Bytes raw;
  for (const Pass& p : passes) {
    if (p.x0 >= width || p.y0 >= height) continue;  // an empty pass has no rows at all
    for (int y = p.y0; y < height; y += p.dy) {
      raw.push_back(0);  // filter type None
      for (int x = p.x0; x < width; x += p.dx)
        for (int c = 0; c < channels; ++c) {
          const uint16_t v = samples[(static_cast<size_t>(y) * width + x) * channels + c];
          if (bit_depth == 16) raw.push_back(static_cast<uint8_t>(v >> 8));
          raw.push_back(static_cast<uint8_t>(v));
        }
    }
  }
  Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto append = [&](const Bytes& c) { png.insert(png.end(), c.begin(), c.end()); };
  append(png_chunk("IHDR", png_ihdr(width, height, bit_depth, colour_type, interlace ? 1 : 0)));
  if (colour_type == 3) append(png_chunk("PLTE", palette));
  append(png_chunk("IDAT", zlib_stored(raw)));
  append(png_chunk("IEND", {}));
  return png;
}

Bytes make_png_rgb(const Image& image) {
  return make_png(image.width, image.height, 2, 8, std::vector<uint16_t>(image.pixels.begin(), image.pixels.end()));
}

Bytes make_bmp24(const Image& image, bool top_down) {
  const int w = image.width, h = image.height;
  const uint32_t row = (w * 3 + 3) / 4 * 4;
  Bytes b = {'B', 'M'};
  put_le32(b, 54 + row * h);  // file size
  put_le32(b, 0);
  put_le32(b, 54);  // pixel data offset
  put_le32(b, 40);  // BITMAPINFOHEADER
  put_le32(b, static_cast<uint32_t>(w));
  put_le32(b, static_cast<uint32_t>(top_down ? -h : h));
  put_le16(b, 1);   // planes
  put_le16(b, 24);  // bits per pixel
  put_le32(b, 0);   // BI_RGB
  put_le32(b, row * h);
  put_le32(b, 2835);
  put_le32(b, 2835);
  put_le32(b, 0);
  put_le32(b, 0);
  for (int r = 0; r < h; ++r) {
    const int y = top_down ? r : h - 1 - r;
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = image.at(x, y);
      b.push_back(p[2]);  // BMP stores BGR
      b.push_back(p[1]);
      b.push_back(p[0]);
    }
    for (uint32_t pad = w * 3; pad < row; ++pad) b.push_back(0);
  }
  return b;
}

Bytes make_pnm(char kind, int width, int height, int maxval, const std::vector<uint16_t>& samples) {
  const std::string header = std::string("P") + kind + "\n# test\n" + std::to_string(width) + " " +
                             std::to_string(height) + "\n" + std::to_string(maxval) + "\n";
  Bytes b(header.begin(), header.end());
  for (uint16_t v : samples) {
    if (maxval > 255) b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
  }
  return b;
}

Bytes make_jpeg(const Image& image, int quality) {
  Bytes out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* o = static_cast<Bytes*>(ctx);
    o->insert(o->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (!stbi_write_jpg_to_func(sink, &out, image.width, image.height, 3, image.pixels.data(), quality))
    throw std::runtime_error("make_jpeg failed");
  return out;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/hsanet_data_test_XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Restore permissions that a test removed, so that the folder can be deleted.
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code pec;
    if (!it->is_symlink(pec)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, pec);
  }
  fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& rel, const Bytes& bytes) const {
  const std::string full = *this / rel;
  fs::create_directories(fs::path(full).parent_path());
  std::ofstream out(full, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + full);
  return full;
}

std::string TempDir::mkdir(const std::string& rel) const {
  const std::string full = *this / rel;
  fs::create_directories(full);
  return full;
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string source_dir() {
  const char* dir = std::getenv("HSANET_SOURCE_DIR");
  return dir && *dir ? dir : ".";
}

}  // namespace hsanet::data::testing
