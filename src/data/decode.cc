// The one translation unit that compiles stb_image.
//
// stb is built here with only JPEG, PNG and BMP, no stdio (we read files ourselves), a
// compiled-in size cap, and its allocator and assert routed to the guards below:
// - allocations are charged to a per-decode budget computed from the checked header, so a
//   compressed stream that inflates past what the picture needs (a "zlib bomb" in a PNG) fails
//   with a reason instead of taking the machine's memory;
// - a failed internal assert throws a DataError instead of aborting the process, and the blocks
//   stb held at that moment are freed when the budget goes out of scope.
// PNM is decoded here without stb: stb 2.27 (Debian 12) reads 16-bit PNM samples in the wrong
// byte order and converts 16-bit grey to RGB with its 8-bit routine, and it never scales by
// maxval. Binary PNM is a header (already parsed by check_pnm) followed by raw samples, so our own
// reader is a few lines.
#include "data/decode_memory.h"
#include "data/decode.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <unordered_map>

#include "data/data_error.h"
#include "data/file_bytes.h"

namespace hsanet::data::stb_guard {

// Memory charged to one decode on this thread.
struct Budget {
  size_t max_block = 0;  // bytes, any single allocation
  size_t max_total = 0;  // bytes, all live allocations together
  size_t live = 0;
  bool exceeded = false;
  std::unordered_map<void*, size_t> blocks;

  ~Budget() {
    for (auto& [p, n] : blocks) std::free(p);  // only non-empty when stb was interrupted by a throw
  }
};

thread_local Budget* current = nullptr;

void* allocate(size_t n) {
  Budget* b = current;
  if (!b) return std::malloc(n);
  if (n > b->max_block || b->live + n > b->max_total) {
    b->exceeded = true;
    return nullptr;  // stb reports "outofmem"; decode() turns that into a reason
  }
  void* p = std::malloc(n);
  if (p) {
    b->blocks[p] = n;
    b->live += n;
  }
  return p;
}

void release(void* p) {
  if (!p) return;
  if (Budget* b = current) {
    auto it = b->blocks.find(p);
    if (it != b->blocks.end()) {
      b->live -= it->second;
      b->blocks.erase(it);
    }
  }
  std::free(p);
}

void* reallocate(void* p, size_t n) {
  Budget* b = current;
  if (!b) return std::realloc(p, n);
  if (!p) return allocate(n);
  auto it = b->blocks.find(p);
  const size_t old = it != b->blocks.end() ? it->second : 0;
  if (n > b->max_block || b->live - old + n > b->max_total) {
    b->exceeded = true;
    return nullptr;  // like realloc: the old block stays valid and owned by stb
  }
  // Forget the old address before realloc may free it; restore it if realloc fails.
  if (it != b->blocks.end()) b->blocks.erase(it);
  void* q = std::realloc(p, n);
  if (!q) {
    if (old) b->blocks[p] = old;
    return nullptr;
  }
  b->blocks[q] = n;
  b->live = b->live - old + n;
  return q;
}

[[noreturn]] void assert_failed(const char* condition) {
  throw DataError("", std::string("image decoder internal check failed (") + condition + "): corrupt file");
}

}  // namespace hsanet::data::stb_guard

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_GIF
#define STBI_NO_PSD
#define STBI_NO_TGA
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_LINEAR
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS 16384
#define STBI_MALLOC(n) ::hsanet::data::stb_guard::allocate(n)
#define STBI_REALLOC(p, n) ::hsanet::data::stb_guard::reallocate(p, n)
#define STBI_FREE(p) ::hsanet::data::stb_guard::release(p)
#define STBI_ASSERT(x) ((x) ? (void)0 : ::hsanet::data::stb_guard::assert_failed(#x))
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wpedantic"
#include "stb_image.h"
#pragma GCC diagnostic pop

static_assert(STBI_MAX_DIMENSIONS == hsanet::data::kMaxSideCompiled, "keep decode.h in step");

namespace hsanet::data {

namespace {

std::string size_text(int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

// Binary PNM samples -> RGB. Samples are 1 byte (maxval < 256) or 2 bytes big-endian, scaled so
// that maxval becomes 255 (rounded to nearest); values over maxval (invalid) saturate. check_pnm
// has verified that the file holds all width * height * channels samples.
Image decode_pnm(const uint8_t* data, const HeaderInfo& info) {
  // samples: [height, width, info.channels] at data + info.pnm_data_offset
  Image image(static_cast<int>(info.width), static_cast<int>(info.height));
  const uint8_t* p = data + info.pnm_data_offset;
  const uint32_t m = static_cast<uint32_t>(info.pnm_maxval);
  const bool wide = info.bit_depth == 16;
  const size_t pixels = static_cast<size_t>(info.width) * static_cast<size_t>(info.height);
  uint8_t* out = image.pixels.data();
  for (size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < Image::kChannels; ++c) {
      // Grey: the one sample goes to all three channels; colour: sample c.
      const size_t s = i * info.channels + (info.channels == 1 ? 0 : c);
      const uint32_t raw = wide ? (uint32_t{p[2 * s]} << 8 | p[2 * s + 1]) : p[s];
      out[i * 3 + c] = static_cast<uint8_t>((std::min(raw, m) * 255 + m / 2) / m);
    }
  return image;
}

}  // namespace

void check_limits(const HeaderInfo& info, const std::string& name, const DecodeLimits& limits) {
  const int64_t max_side = std::min(limits.max_side, kMaxSideCompiled);
  const int64_t w = info.width, h = info.height;
  if (w > max_side || h > max_side)
    throw DataError(name, "image is " + size_text(w, h) + ", over the limit of " + std::to_string(max_side) +
                              " pixels per side (corrupt header?)");
  if (w * h > limits.max_pixels)
    throw DataError(name, "image is " + size_text(w, h) + " = " + std::to_string(w * h) +
                              " pixels, over the limit of " + std::to_string(limits.max_pixels));
  if (std::min(w, h) < limits.min_side)
    throw DataError(name, "image is " + size_text(w, h) + ": too small (sides under " +
                              std::to_string(limits.min_side) + " pixels are refused)");
  const double aspect = static_cast<double>(std::max(w, h)) / static_cast<double>(std::min(w, h));
  if (aspect > limits.max_aspect)
    throw DataError(name, "image is " + size_text(w, h) + ": aspect ratio " + std::to_string(aspect) +
                              " is over the limit of " + std::to_string(limits.max_aspect));
}

Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name, const DecodeLimits& limits) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw DataError(name, "file is too large for the decoder (" + std::to_string(size) + " bytes)");
  const HeaderInfo info = check_header(data, size, name);
  check_limits(info, name, limits);
  if (info.format == ImageFormat::Pnm) return decode_pnm(data, info);

  // The largest buffer a legitimate decode needs is about one copy of the picture at 4 channels
  // and 16 bits (PNG's inflated rows, a progressive JPEG's coefficients); the budget allows a
  // few of them plus slack for tables.
  stb_guard::Budget budget;
  const size_t picture = static_cast<size_t>(info.width) * static_cast<size_t>(info.height) * 8 +
                         static_cast<size_t>(info.height) * 16;
  budget.max_block = 2 * picture + (size_t{4} << 20);
  budget.max_total = 6 * picture + (size_t{16} << 20);
  // With several decoding threads the budgets add up: reserve this one from the process's total.
  const DecodeMemory::Lease lease = DecodeMemory::process().reserve(budget.max_total);
  stb_guard::current = &budget;
  struct Reset {
    ~Reset() { stb_guard::current = nullptr; }
  } reset;

  int w = 0, h = 0, stored_channels = 0;
  stbi_uc* pixels = nullptr;
  try {
    pixels = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &stored_channels, 3);
  } catch (const DataError& e) {
    throw DataError(name, e.reason());
  }
  if (!pixels) {
    if (budget.exceeded)
      throw DataError(name, std::string(format_name(info.format)) + " data decompresses to more than a " +
                                size_text(info.width, info.height) + " image needs (corrupt or malicious file)");
    throw DataError(name, std::string(format_name(info.format)) + " decoder failed: " + stbi_failure_reason() +
                              " (corrupt file)");
  }
  struct FreePixels {
    stbi_uc* p;
    ~FreePixels() { stbi_image_free(p); }
  } free_pixels{pixels};
  if (w != info.width || h != info.height)
    throw DataError(name, "decoder produced " + size_text(w, h) + " but the header says " +
                              size_text(info.width, info.height));

  Image image(w, h);
  std::copy_n(pixels, image.pixels.size(), image.pixels.data());
  return image;
}

Image decode_image_file(const std::string& path, const DecodeLimits& limits) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, limits.max_file_bytes);
  return decode_image_memory(bytes.data(), bytes.size(), path, limits);
}

}  // namespace hsanet::data
