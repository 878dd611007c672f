// The safetensors file format: PyTorch-compatible weights, and a reader safe for untrusted files.
//
// Layout of a file (every integer little-endian):
//   bytes [0, 8)        N: u64, the length of the JSON header
//   bytes [8, 8+N)      the header, a JSON object:
//                         {"<name>": {"dtype": "F32", "shape": [64, 3, 7, 7],
//                                     "data_offsets": [begin, end]}, ...,
//                          "__metadata__": {"<key>": "<value>", ...}}      (optional)
//   bytes [8+N, size)   the data section; each tensor's raw bytes are [begin, end) of it, and the
//                       tensors tile the section exactly: no gaps, no overlaps, nothing left over.
//
// The reader checks every one of those promises before trusting any number in the header, and
// throws SafetensorsError naming the file and the problem when one is broken. See
// docs/safetensors.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace hsanet::io {

// A malformed or unreadable safetensors file; the message starts with the file's name.
class SafetensorsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bytes per element of a dtype name ("F32" -> 4), or 0 when the name is not one we know.
// Known: F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL.
size_t dtype_size(const std::string& dtype);

// One tensor as stored in the file: its dtype, its shape (PyTorch's order) and its raw bytes.
struct TensorRecord {
  std::string dtype;           // "F32", "I64", ...
  Shape shape;                 // e.g. [64, 3, 7, 7] for an OIHW convolution weight
  std::vector<uint8_t> bytes;  // [numel(shape) * dtype_size(dtype)], little-endian

  int64_t numel() const { return hsanet::numel(shape); }
  // The values as a float32 tensor of `shape`: floats are rounded, integers and BOOL converted.
  Tensor to_float_tensor() const;
  // The values of an integer or BOOL record (labels, num_batches_tracked); throws for floats.
  std::vector<int64_t> to_int64() const;

  static TensorRecord from_tensor(const Tensor& t);  // F32, t's shape
  static TensorRecord from_int64(const std::vector<int64_t>& values, const Shape& shape);
  static TensorRecord from_int64(const std::vector<int64_t>& values) {  // 1-D
    return from_int64(values, Shape{static_cast<int64_t>(values.size())});
  }
};

using Metadata = std::map<std::string, std::string>;

struct SafeTensorsFile {
  std::map<std::string, TensorRecord> tensors;  // by name
  Metadata metadata;                            // "__metadata__", empty when absent

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  // The record called `name`; throws SafetensorsError listing the file's names if absent.
  const TensorRecord& at(const std::string& name) const;
};

// Limits on what the reader accepts; the defaults suit any real weight file.
struct SafetensorsLimits {
  // Parsing costs up to about 35 bytes of memory per header byte (measured: a header of many
  // short metadata strings; tensor entries cost about 19), so 16 MiB of header can cost about
  // 560 MB. Real headers are far smaller: a ResNet-50 training checkpoint's is about 100 kB.
  uint64_t max_header_bytes = 16ull << 20;
};

// Reads and validates a whole file. The file is stat'ed first and every length is checked
// against its real size before anything is allocated.
SafeTensorsFile read_safetensors(const std::string& path, const SafetensorsLimits& limits = {});

// The same checks over bytes already in memory (the fuzz target's entry point). `source` names
// the bytes in error messages.
SafeTensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& source,
                                  const SafetensorsLimits& limits = {});

// Writes `records` in the given order, crash-safely (see io/atomic_file.h): the previous file at
// `path` stays intact if anything fails. Names must be unique and not "__metadata__", and each
// record's bytes must match its dtype and shape; otherwise std::invalid_argument, before any I/O.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, TensorRecord>>& records,
                       const Metadata& metadata = {});

// The file's bytes in memory (what write_safetensors writes), for tests and tools.
std::vector<uint8_t> serialize_safetensors(
    const std::vector<std::pair<std::string, TensorRecord>>& records,
    const Metadata& metadata = {});

}  // namespace hsanet::io
