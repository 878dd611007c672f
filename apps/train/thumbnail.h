// Small pictures for HTML pages: an image file decoded by the project's own decoder
// (data/decode.h), shrunk to fit a square, and encoded as a PNG data URI, so that the page holds
// the picture itself and no reference to the file.
#pragma once

#include <string>

#include "data/image.h"

namespace hsanet::train {

// The image shrunk (area filter; never enlarged) so that its longer side is at most `max_side`.
data::Image shrink_to_fit(const data::Image& image, int max_side);

// PNG bytes of an image (stb_image_write).
std::string encode_png(const data::Image& image);

// "data:image/png;base64,..." of the file's picture, at most max_side pixels a side. Throws
// data::DataError naming the file when it cannot be read or decoded.
std::string thumbnail_data_uri(const std::string& image_path, int max_side);

}  // namespace hsanet::train
