// Device memory owned by RAII types, and the host <-> device copies the engine makes. A plain C++
// header (no CUDA types), so code that is compiled without CUDA can use it; in a build without
// CUDA (cuda_stub.cc) allocating or copying throws "hsanet was built without CUDA".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hsanet::ops {

// `size` floats of device memory (cudaMalloc, freed by the destructor). Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t size);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  float* data() const { return ptr_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Whole-buffer copies (count <= size()), synchronous.
  void upload(const float* host, size_t count);
  void download(float* host, size_t count) const;
  std::vector<float> to_host() const;
  // Sets every byte to zero.
  void zero();

 private:
  void reset() noexcept;
  float* ptr_ = nullptr;
  size_t size_ = 0;
};

// Strided copies of `rows` rows of `cols` floats; row r starts at base + r * ld (ld >= cols).
// Synchronous. They move exactly rows * cols floats, so a slice of a wider row (q inside a fused
// [B, N, 3C] qkv) costs only its own bytes.
void copy_rows_to_device(float* device, int64_t device_ld, const float* host, int64_t host_ld,
                         int64_t rows, int64_t cols);
void copy_rows_to_host(float* host, int64_t host_ld, const float* device, int64_t device_ld,
                       int64_t rows, int64_t cols);

// Waits for all queued device work; throws on any error it reports.
void cuda_synchronize();

}  // namespace hsanet::ops
