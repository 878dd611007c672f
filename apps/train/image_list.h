// The images named on a command line: files as given, folders walked for image files.
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

// Expands `inputs` in order: a file is kept as given (whatever its extension, so a misnamed file
// still gets its decoding error); a folder contributes every image file below it (recursively,
// by the data layer's rule: data::is_image_file_name, hidden entries skipped), sorted by path for
// a stable order. Throws std::runtime_error naming the input when it does not exist or a folder
// holds no image.
std::vector<std::string> list_images(const std::vector<std::string>& inputs);

// The name of the folder that holds `path` ("faces/s3/1.pgm" -> "s3"), the identity the usual
// one-folder-per-identity layout gives it.
std::string parent_folder_name(const std::string& path);

}  // namespace hsanet::train
