// DeviceBuffer and the engine's host <-> device copies over the CUDA runtime.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/device_buffer.h"

namespace hsanet::ops {

DeviceBuffer::DeviceBuffer(size_t size) : size_(size) {
  if (size == 0) return;
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, size * sizeof(float)));
  ptr_ = static_cast<float*>(p);
}

DeviceBuffer::~DeviceBuffer() { reset(); }

void DeviceBuffer::reset() noexcept {
  if (ptr_) cudaFree(ptr_);  // a destructor cannot report; cudaFree fails only on a dead context
  ptr_ = nullptr;
  size_ = 0;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

static void check_count(const char* what, size_t count, size_t size) {
  if (count > size)
    throw std::invalid_argument(std::string("DeviceBuffer::") + what + ": " +
                                std::to_string(count) + " floats into a buffer of " +
                                std::to_string(size));
}

void DeviceBuffer::upload(const float* host, size_t count) {
  check_count("upload", count, size_);
  if (count) CUDA_CHECK(cudaMemcpy(ptr_, host, count * sizeof(float), cudaMemcpyHostToDevice));
}

void DeviceBuffer::download(float* host, size_t count) const {
  check_count("download", count, size_);
  if (count) CUDA_CHECK(cudaMemcpy(host, ptr_, count * sizeof(float), cudaMemcpyDeviceToHost));
}

std::vector<float> DeviceBuffer::to_host() const {
  std::vector<float> out(size_);
  download(out.data(), size_);
  return out;
}

void DeviceBuffer::zero() {
  if (size_) CUDA_CHECK(cudaMemset(ptr_, 0, size_ * sizeof(float)));
}

static void check_rows(const char* what, int64_t dst_ld, int64_t src_ld, int64_t rows,
                       int64_t cols) {
  if (rows < 0 || cols < 0 || dst_ld < cols || src_ld < cols)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(rows) + " rows of " +
                                std::to_string(cols) + " floats with strides " +
                                std::to_string(dst_ld) + " and " + std::to_string(src_ld));
}

void copy_rows_to_device(float* device, int64_t device_ld, const float* host, int64_t host_ld,
                         int64_t rows, int64_t cols) {
  check_rows("copy_rows_to_device", device_ld, host_ld, rows, cols);
  if (rows == 0 || cols == 0) return;
  CUDA_CHECK(cudaMemcpy2D(device, size_t(device_ld) * sizeof(float), host,
                          size_t(host_ld) * sizeof(float), size_t(cols) * sizeof(float),
                          size_t(rows), cudaMemcpyHostToDevice));
}

void copy_rows_to_host(float* host, int64_t host_ld, const float* device, int64_t device_ld,
                       int64_t rows, int64_t cols) {
  check_rows("copy_rows_to_host", host_ld, device_ld, rows, cols);
  if (rows == 0 || cols == 0) return;
  CUDA_CHECK(cudaMemcpy2D(host, size_t(host_ld) * sizeof(float), device,
                          size_t(device_ld) * sizeof(float), size_t(cols) * sizeof(float),
                          size_t(rows), cudaMemcpyDeviceToHost));
}

void cuda_synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace hsanet::ops
