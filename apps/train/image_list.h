// The images named on a command line: files as given, folders walked for image files.
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

// Expands `inputs` in order: anything but a folder is kept as given (whatever its extension, and
// even when missing: decoding then reports it by name, and the other images still go through); a
// folder contributes every image file below it (recursively, by the data layer's rule:
// data::is_image_file_name, hidden entries skipped), sorted by path for a stable order. Throws
// std::runtime_error naming the folder when it holds no image or cannot be listed.
std::vector<std::string> list_images(const std::vector<std::string>& inputs);

// The name of the folder that holds `path` ("faces/s3/1.pgm" -> "s3"), the identity the usual
// one-folder-per-identity layout gives it.
std::string parent_folder_name(const std::string& path);

}  // namespace hsanet::train
