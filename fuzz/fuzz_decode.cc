// libFuzzer target for the image decode path: arbitrary bytes must either decode to a picture
// that agrees with its own header, or throw DataError. A crash, a sanitizer report, a hang, an
// allocation beyond the budget or any other exception is a finding.
//
// Build and run: scripts/fuzz_decode.sh (clang, -DHSANET_FUZZ=ON).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "data/data_error.h"
#include "data/decode.h"
#include "data/header_check.h"

using namespace hsanet::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small pictures of any shape reach the decoders (the production minimum side would stop most
  // mutated headers before stb); the pixel cap keeps each run fast.
  DecodeLimits limits;
  limits.max_side = 4096;
  limits.max_pixels = 1 << 20;
  limits.min_side = 1;
  limits.max_aspect = 1e9;

  HeaderInfo info;
  bool header_ok = true;
  try {
    info = check_header(data, size, "fuzz-input");
  } catch (const DataError&) {
    header_ok = false;
  }
  try {
    const Image image = decode_image_memory(data, size, "fuzz-input", limits);
    // Whatever decodes passed the header check and has exactly the size that check reported.
    if (!header_ok || image.width != info.width || image.height != info.height ||
        image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3)
      std::abort();
  } catch (const DataError& e) {
    if (e.reason().empty()) std::abort();  // every refusal says why
  }
  return 0;
}
