#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/safetensors_header.h"

// Tensor bytes are copied to and from memory as they are; that is the file's byte order only on
// little-endian hosts (every machine this engine targets).
static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader assumes a little-endian host");

namespace hsanet::io {

namespace {

using json = nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";

// ---------------------------------------------------------------- dtypes

struct DTypeInfo {
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},  {"I16", 2},
    {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},  {"BOOL", 1},
};

// IEEE binary16 -> float. Exact: every half is representable as a float.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {  // inf or NaN: keep the payload's top bits
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {  // normal: rebias the exponent from 15 to 127
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal half = mant * 2^-24, a normal float
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(bits);
}

// bfloat16 is the top half of a float32.
float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// ---------------------------------------------------------------- where the bytes come from

// The reader sees a file or a memory block through this, so both get exactly the same checks.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads [offset, offset + n), which the caller has checked lies within size().
  virtual void read(uint64_t offset, void* dst, size_t n) const = 0;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) const override {
    if (n) std::memcpy(dst, data_ + offset, n);
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail("cannot open", errno);
    struct stat st;
    if (::fstat(fd_, &st) != 0) fail("cannot stat", errno);
    // A FIFO or a device (/dev/zero) has no trustworthy size to check the header against.
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw SafetensorsError(path_ + ": not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) const override {
    char* p = static_cast<char*>(dst);
    while (n > 0) {
      ssize_t k = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (k < 0) {
        if (errno == EINTR) continue;
        throw SafetensorsError(path_ + ": read failed: " + std::system_category().message(errno));
      }
      if (k == 0)  // the file shrank after we stat'ed it
        throw SafetensorsError(path_ + ": file ended early (truncated while being read?)");
      p += k;
      n -= static_cast<size_t>(k);
      offset += static_cast<uint64_t>(k);
    }
  }

 private:
  [[noreturn]] void fail(const char* what, int err) {
    if (fd_ >= 0) ::close(fd_);
    throw SafetensorsError(path_ + ": " + what + ": " + std::system_category().message(err));
  }
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// ---------------------------------------------------------------- the header

struct Entry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // into the data section
};

std::string describe(const json& j) {
  std::string s = j.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// Checks one tensor entry's fields and their arithmetic; `data_size` is the data section's size.
Entry parse_entry(const std::string& name, const json& j, uint64_t data_size,
                  const std::string& source) {
  const std::string where = source + ": tensor '" + name + "': ";
  if (!j.is_object()) throw SafetensorsError(where + "entry is not an object: " + describe(j));
  for (const auto& [key, value] : j.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      throw SafetensorsError(where + "unexpected field '" + key + "'");
  }
  Entry e;
  e.name = name;

  auto dt = j.find("dtype");
  if (dt == j.end()) throw SafetensorsError(where + "no dtype");
  if (!dt->is_string()) throw SafetensorsError(where + "dtype is not a string: " + describe(*dt));
  e.dtype = dt->get<std::string>();
  const size_t elem = dtype_size(e.dtype);
  if (elem == 0) throw SafetensorsError(where + "unknown dtype '" + e.dtype + "'");

  auto sh = j.find("shape");
  if (sh == j.end()) throw SafetensorsError(where + "no shape");
  if (!sh->is_array()) throw SafetensorsError(where + "shape is not a list: " + describe(*sh));
  // The byte count is built up with an overflow check at every step: a header may claim a shape
  // like [2^40, 2^40] whose product wraps around to something small and plausible.
  uint64_t nbytes = elem;
  for (const json& d : *sh) {
    if (!d.is_number_unsigned())
      throw SafetensorsError(where + "shape " + describe(*sh) +
                             " is not a list of non-negative integers");
    const uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(nbytes, v, &nbytes))
      throw SafetensorsError(where + "shape " + describe(*sh) + " of " + e.dtype +
                             " overflows a 64-bit byte count");
    e.shape.push_back(static_cast<int64_t>(v));
  }

  auto off = j.find("data_offsets");
  if (off == j.end()) throw SafetensorsError(where + "no data_offsets");
  if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    throw SafetensorsError(where + "data_offsets is not two non-negative integers: " +
                           describe(*off));
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
  if (e.end < e.begin) throw SafetensorsError(where + "data_offsets " + range + " end before they begin");
  if (e.end > data_size)
    throw SafetensorsError(where + "data_offsets " + range + " lie outside the data section of " +
                           std::to_string(data_size) + " bytes");
  if (e.end - e.begin != nbytes)
    throw SafetensorsError(where + "data_offsets " + range + " hold " +
                           std::to_string(e.end - e.begin) + " bytes but shape " +
                           shape_str(e.shape) + " of " + e.dtype + " needs " +
                           std::to_string(nbytes));
  return e;
}

Metadata parse_metadata(const json& j, const std::string& source) {
  if (!j.is_object())
    throw SafetensorsError(source + ": __metadata__ is not an object: " + describe(j));
  Metadata m;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string())
      throw SafetensorsError(source + ": __metadata__ value for '" + key +
                             "' is not a string: " + describe(value));
    m[key] = value.get<std::string>();
  }
  return m;
}

// The tensors must tile the data section: sorted by where they begin, each starts exactly where
// the previous one ended, and the last ends at the section's end. Anything else is a gap (bytes
// nobody owns: possibly hidden data), an overlap (two tensors aliasing the same bytes) or junk.
void check_tiling(std::vector<Entry>& entries, uint64_t data_size, const std::string& source) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin > expected)
      throw SafetensorsError(source + ": gap of " + std::to_string(e.begin - expected) +
                             " bytes in the data section before tensor '" + e.name + "' (offset " +
                             std::to_string(e.begin) + ")");
    if (e.begin < expected)
      throw SafetensorsError(source + ": tensor '" + e.name + "' (bytes " +
                             std::to_string(e.begin) + " to " + std::to_string(e.end) +
                             ") overlaps tensor '" + (prev ? prev->name : "") + "' (ending at " +
                             std::to_string(expected) + ")");
    expected = e.end;
    prev = &e;
  }
  if (expected != data_size)
    throw SafetensorsError(source + ": the tensors cover " + std::to_string(expected) +
                           " bytes but the data section holds " + std::to_string(data_size) +
                           " (" + std::to_string(data_size - expected) + " bytes left over)");
}

SafeTensorsFile parse_source(const ByteSource& src, const std::string& source,
                             const SafetensorsLimits& limits) {
  const uint64_t size = src.size();
  if (size < 8)
    throw SafetensorsError(source + ": file is " + std::to_string(size) +
                           " bytes, shorter than the 8-byte header length");
  uint8_t len_bytes[8];
  src.read(0, len_bytes, 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];  // little-endian
  if (header_len == 0) throw SafetensorsError(source + ": header length is 0");
  if (header_len > limits.max_header_bytes)
    throw SafetensorsError(source + ": header length " + std::to_string(header_len) +
                           " exceeds the limit of " + std::to_string(limits.max_header_bytes) +
                           " bytes");
  if (header_len > size - 8)
    throw SafetensorsError(source + ": header length " + std::to_string(header_len) +
                           " runs past the end of the " + std::to_string(size) + "-byte file");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;

  std::string text(static_cast<size_t>(header_len), '\0');
  src.read(8, text.data(), text.size());
  json header = parse_header_json(text, source);
  if (!header.is_object())
    throw SafetensorsError(source + ": header is not a JSON object: " + describe(header));

  SafeTensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey)
      out.metadata = parse_metadata(value, source);
    else
      entries.push_back(parse_entry(name, value, data_size, source));
  }
  check_tiling(entries, data_size, source);

  // Only now is every size known to lie inside the file: read the tensors, in file order.
  for (Entry& e : entries) {
    TensorRecord r;
    r.dtype = std::move(e.dtype);
    r.shape = std::move(e.shape);
    r.bytes.resize(static_cast<size_t>(e.end - e.begin));
    src.read(data_start + e.begin, r.bytes.data(), r.bytes.size());
    out.tensors.emplace(e.name, std::move(r));
  }
  return out;
}

void check_record(const std::string& name, const TensorRecord& r, const char* who) {
  const size_t elem = dtype_size(r.dtype);
  if (elem == 0)
    throw std::invalid_argument(std::string(who) + ": tensor '" + name + "' has unknown dtype '" +
                                r.dtype + "'");
  const int64_t n = hsanet::numel(r.shape);  // throws for negative dimensions
  if (r.bytes.size() != static_cast<uint64_t>(n) * elem)
    throw std::invalid_argument(std::string(who) + ": tensor '" + name + "' holds " +
                                std::to_string(r.bytes.size()) + " bytes but shape " +
                                shape_str(r.shape) + " of " + r.dtype + " needs " +
                                std::to_string(static_cast<uint64_t>(n) * elem));
}

// Header text plus the padding that makes 8 + header a multiple of 8, so the data section is
// 8-byte aligned for readers that map the file and use the tensors in place.
std::string build_header(const std::vector<std::pair<std::string, TensorRecord>>& records,
                         const Metadata& metadata) {
  std::set<std::string> seen;
  for (const auto& [name, r] : records) {
    if (name == kMetadataKey)
      throw std::invalid_argument("write_safetensors: '__metadata__' cannot name a tensor");
    if (!seen.insert(name).second)
      throw std::invalid_argument("write_safetensors: tensor name '" + name + "' appears twice");
    check_record(name, r, "write_safetensors");
  }
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h[kMetadataKey] = std::move(m);
  }
  uint64_t offset = 0;
  for (const auto& [name, r] : records) {
    nlohmann::ordered_json e;
    e["dtype"] = r.dtype;
    e["shape"] = r.shape;
    e["data_offsets"] = {offset, offset + r.bytes.size()};
    offset += r.bytes.size();
    h[name] = std::move(e);
  }
  // dump() of a string with invalid UTF-8 throws; report it as the caller's mistake.
  std::string text;
  try {
    text = h.dump();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("write_safetensors: a name or metadata string is not "
                                            "valid UTF-8 (") + e.what() + ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

void put_u64_le(uint64_t v, uint8_t out[8]) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

size_t dtype_size(const std::string& dtype) {
  for (const DTypeInfo& d : kDTypes)
    if (dtype == d.name) return d.size;
  return 0;
}

// ---------------------------------------------------------------- TensorRecord

Tensor TensorRecord::to_float_tensor() const {
  const size_t elem = dtype_size(dtype);
  const int64_t n = numel();
  if (elem == 0 || bytes.size() != static_cast<uint64_t>(n) * elem)
    throw SafetensorsError("to_float_tensor: record of dtype '" + dtype + "' and shape " +
                           shape_str(shape) + " holds " + std::to_string(bytes.size()) + " bytes");
  Tensor t = Tensor::empty(shape);
  float* y = t.data();
  const uint8_t* p = bytes.data();
  if (dtype == "F32") {
    if (n) std::memcpy(y, p, bytes.size());
    return t;
  }
  for (int64_t i = 0; i < n; ++i, p += elem) {
    float v;
    if (dtype == "F64") v = static_cast<float>(load<double>(p));
    else if (dtype == "F16") v = half_to_float(load<uint16_t>(p));
    else if (dtype == "BF16") v = bf16_to_float(load<uint16_t>(p));
    else if (dtype == "I64") v = static_cast<float>(load<int64_t>(p));
    else if (dtype == "I32") v = static_cast<float>(load<int32_t>(p));
    else if (dtype == "I16") v = static_cast<float>(load<int16_t>(p));
    else if (dtype == "I8") v = static_cast<float>(load<int8_t>(p));
    else if (dtype == "U64") v = static_cast<float>(load<uint64_t>(p));
    else if (dtype == "U32") v = static_cast<float>(load<uint32_t>(p));
    else if (dtype == "U16") v = static_cast<float>(load<uint16_t>(p));
    else if (dtype == "U8") v = static_cast<float>(*p);
    else v = *p != 0 ? 1.f : 0.f;  // BOOL
    y[i] = v;
  }
  return t;
}

std::vector<int64_t> TensorRecord::to_int64() const {
  const size_t elem = dtype_size(dtype);
  const int64_t n = numel();
  if (elem == 0 || bytes.size() != static_cast<uint64_t>(n) * elem)
    throw SafetensorsError("to_int64: record of dtype '" + dtype + "' and shape " +
                           shape_str(shape) + " holds " + std::to_string(bytes.size()) + " bytes");
  if (dtype == "F64" || dtype == "F32" || dtype == "F16" || dtype == "BF16")
    throw SafetensorsError("to_int64: record holds floating-point " + dtype +
                           " values, not integers");
  std::vector<int64_t> out(static_cast<size_t>(n));
  const uint8_t* p = bytes.data();
  for (int64_t i = 0; i < n; ++i, p += elem) {
    int64_t v;
    if (dtype == "I64") v = load<int64_t>(p);
    else if (dtype == "I32") v = load<int32_t>(p);
    else if (dtype == "I16") v = load<int16_t>(p);
    else if (dtype == "I8") v = load<int8_t>(p);
    else if (dtype == "U64") {
      const uint64_t u = load<uint64_t>(p);
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw SafetensorsError("to_int64: U64 value " + std::to_string(u) +
                               " does not fit in int64");
      v = static_cast<int64_t>(u);
    }
    else if (dtype == "U32") v = load<uint32_t>(p);
    else if (dtype == "U16") v = load<uint16_t>(p);
    else if (dtype == "U8") v = *p;
    else v = *p != 0 ? 1 : 0;  // BOOL
    out[static_cast<size_t>(i)] = v;
  }
  return out;
}

TensorRecord TensorRecord::from_tensor(const Tensor& t) {
  if (!t.defined()) throw std::invalid_argument("TensorRecord::from_tensor: undefined tensor");
  TensorRecord r;
  r.dtype = "F32";
  r.shape = t.shape();
  const size_t n = static_cast<size_t>(t.numel()) * sizeof(float);
  r.bytes.resize(n);
  if (n) std::memcpy(r.bytes.data(), t.data(), n);
  return r;
}

TensorRecord TensorRecord::from_int64(const std::vector<int64_t>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != hsanet::numel(shape))
    throw std::invalid_argument("TensorRecord::from_int64: " + std::to_string(values.size()) +
                                " values do not fill shape " + shape_str(shape));
  TensorRecord r;
  r.dtype = "I64";
  r.shape = shape;
  r.bytes.resize(values.size() * sizeof(int64_t));
  if (!values.empty()) std::memcpy(r.bytes.data(), values.data(), r.bytes.size());
  return r;
}

const TensorRecord& SafeTensorsFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it != tensors.end()) return it->second;
  std::string names;
  int shown = 0;
  for (const auto& [n, r] : tensors) {
    if (shown++ == 20) {
      names += ", ...";
      break;
    }
    names += (names.empty() ? "" : ", ") + n;
  }
  throw SafetensorsError("no tensor named '" + name + "' (the file has: " + names + ")");
}

// ---------------------------------------------------------------- read and write

SafeTensorsFile read_safetensors(const std::string& path, const SafetensorsLimits& limits) {
  FileSource src(path);
  return parse_source(src, path, limits);
}

SafeTensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& source,
                                  const SafetensorsLimits& limits) {
  MemorySource src(data, size);
  return parse_source(src, source, limits);
}

std::vector<uint8_t> serialize_safetensors(
    const std::vector<std::pair<std::string, TensorRecord>>& records, const Metadata& metadata) {
  const std::string header = build_header(records, metadata);
  size_t total = 8 + header.size();
  for (const auto& [name, r] : records) total += r.bytes.size();
  std::vector<uint8_t> out(total);
  put_u64_le(header.size(), out.data());
  uint8_t* p = out.data() + 8;
  std::memcpy(p, header.data(), header.size());
  p += header.size();
  for (const auto& [name, r] : records) {
    if (!r.bytes.empty()) std::memcpy(p, r.bytes.data(), r.bytes.size());
    p += r.bytes.size();
  }
  return out;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, TensorRecord>>& records,
                       const Metadata& metadata) {
  // Everything that can be wrong with the arguments is found here, before the file is touched.
  const std::string header = build_header(records, metadata);
  write_file_atomically(path, [&](AtomicWriter& w) {
    uint8_t len[8];
    put_u64_le(header.size(), len);
    w.write(len, 8);
    w.write(header);
    for (const auto& [name, r] : records) w.write(r.bytes.data(), r.bytes.size());
  });
}

}  // namespace hsanet::io
