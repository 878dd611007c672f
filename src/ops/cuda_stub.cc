// The CUDA backend's entry points in a build without CUDA (HSANET_CUDA=OFF, or no nvcc found):
// each says so, so that asking for the GPU fails with one clear message instead of the engine
// carrying #ifdefs.
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/device_buffer.h"

namespace hsanet::ops {

namespace {
constexpr const char* kNoCuda = "hsanet was built without CUDA (configure with -DHSANET_CUDA=ON)";
[[noreturn]] void no_cuda() { throw std::runtime_error(kNoCuda); }
}  // namespace

bool cuda_available() { return false; }
std::string cuda_unavailable_reason() { return kNoCuda; }
std::string cuda_device_name() { no_cuda(); }

void attention_forward_cuda(const AttentionDims&, const float*, const float*, const float*,
                            const float*, const float*, float*, float*) {
  no_cuda();
}

void attention_backward_cuda(const AttentionDims&, const float*, const float*, const float*,
                             const float*, const float*, const float*, const float*, float*,
                             float*, float*, float*, float*) {
  no_cuda();
}

// An empty buffer is fine (nothing was allocated); anything else needs a device.
DeviceBuffer::DeviceBuffer(size_t size) : size_(size) {
  if (size) no_cuda();
}
DeviceBuffer::~DeviceBuffer() = default;
void DeviceBuffer::reset() noexcept {}
DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept : ptr_(other.ptr_), size_(other.size_) {
  other.ptr_ = nullptr;
  other.size_ = 0;
}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  ptr_ = other.ptr_;
  size_ = other.size_;
  other.ptr_ = nullptr;
  other.size_ = 0;
  return *this;
}
void DeviceBuffer::upload(const float*, size_t count) {
  if (count) no_cuda();
}
void DeviceBuffer::download(float*, size_t count) const {
  if (count) no_cuda();
}
std::vector<float> DeviceBuffer::to_host() const { return {}; }
void DeviceBuffer::zero() {}

void copy_rows_to_device(float*, int64_t, const float*, int64_t, int64_t, int64_t) { no_cuda(); }
void copy_rows_to_host(float*, int64_t, const float*, int64_t, int64_t, int64_t) { no_cuda(); }
void cuda_synchronize() { no_cuda(); }

}  // namespace hsanet::ops
