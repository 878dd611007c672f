#include "apps/train/npy_file.h"

#include <bit>
#include <cstring>
#include <stdexcept>

#include "io/atomic_file.h"

namespace hsanet::train {

std::string npy_header(int64_t rows, int64_t cols) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                     std::to_string(cols) + "), }";
  // magic (6) + version (2) + length (2) + dict + spaces + '\n' is a multiple of 64.
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  const uint16_t len = static_cast<uint16_t>(dict.size());
  std::string h("\x93NUMPY", 6);
  h.push_back('\x01');
  h.push_back('\x00');
  h.push_back(static_cast<char>(len & 0xff));
  h.push_back(static_cast<char>(len >> 8));
  return h + dict;
}

void write_npy_f32(const std::string& path, const std::vector<float>& values, int64_t rows, int64_t cols) {
  static_assert(std::endian::native == std::endian::little, "the .npy writer assumes a little-endian machine");
  if (rows < 0 || cols < 0 || static_cast<int64_t>(values.size()) != rows * cols)
    throw std::runtime_error(path + ": " + std::to_string(values.size()) + " values do not fill a [" +
                             std::to_string(rows) + ", " + std::to_string(cols) + "] array");
  std::string bytes = npy_header(rows, cols);
  bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  io::write_file_atomically(path, bytes);  // throws naming the file
}

}  // namespace hsanet::train
