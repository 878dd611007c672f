// Float32 matrices as NumPy .npy files (format 1.0: the magic, a little-endian header length and
// a Python-literal header padded so the data starts on a 64-byte boundary, then the data,
// little-endian '<f4' in C order), readable by numpy.load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hsanet::train {

// The header bytes (magic, version, length, dictionary, padding, newline) of a [rows, cols]
// float32 array.
std::string npy_header(int64_t rows, int64_t cols);

// Writes `values` (rows * cols floats, row-major). Throws std::runtime_error naming the file when
// the sizes disagree or the file cannot be written.
void write_npy_f32(const std::string& path, const std::vector<float>& values, int64_t rows, int64_t cols);

}  // namespace hsanet::train
