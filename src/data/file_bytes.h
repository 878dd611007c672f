// Reading a whole file into memory, with a reason for every way that can fail.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hsanet::data {

// The bytes of the regular file at `path`. Throws DataError(path, reason) when the path does not
// exist, is a dangling symbolic link, a directory or another non-regular file (a FIFO would block
// the reader forever), is empty, is larger than `max_bytes`, cannot be opened or read, or changes
// size while being read.
std::vector<uint8_t> read_file_bytes(const std::string& path, int64_t max_bytes);

}  // namespace hsanet::data
