#include "apps/train/image_list.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "data/image_folder.h"

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

void walk(const fs::path& dir, std::vector<std::string>& found) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw std::runtime_error(dir.string() + ": cannot list the folder (" + ec.message() + ")");
  for (; it != end; it.increment(ec)) {
    if (ec) throw std::runtime_error(dir.string() + ": cannot list the folder (" + ec.message() + ")");
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code status_ec;
    if (it->is_directory(status_ec))
      walk(it->path(), found);
    else if (data::is_image_file_name(name))
      found.push_back(it->path().string());
  }
}

}  // namespace

std::vector<std::string> list_images(const std::vector<std::string>& inputs) {
  std::vector<std::string> images;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (!fs::is_directory(input, ec)) {  // a missing file fails when decoded, named, as any other
      images.push_back(input);
      continue;
    }
    std::vector<std::string> found;
    walk(input, found);
    if (found.empty()) throw std::runtime_error(input + ": the folder holds no image file (.jpg .jpeg .png .bmp .pgm .ppm .pnm)");
    std::sort(found.begin(), found.end());
    images.insert(images.end(), found.begin(), found.end());
  }
  return images;
}

std::string parent_folder_name(const std::string& path) {
  return fs::path(path).parent_path().filename().string();
}

}  // namespace hsanet::train
