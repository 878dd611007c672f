#include "data/decode_memory.h"

#include <algorithm>

namespace hsanet::data {

DecodeMemory& DecodeMemory::process() {
  static DecodeMemory memory(kDefaultCapacity);
  return memory;
}

void DecodeMemory::take(uint64_t bytes) {
  reserved_ += bytes;
  peak_ = std::max(peak_, reserved_);
}

DecodeMemory::Lease DecodeMemory::reserve(uint64_t bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  freed_.wait(lock, [&] { return fits(bytes); });
  take(bytes);
  return Lease(*this, bytes);
}

DecodeMemory::Lease DecodeMemory::try_reserve(uint64_t bytes, bool& ok) {
  std::lock_guard<std::mutex> lock(mu_);
  ok = fits(bytes);
  if (!ok) return Lease(*this, 0);
  take(bytes);
  return Lease(*this, bytes);
}

void DecodeMemory::release(uint64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    reserved_ -= bytes;
  }
  freed_.notify_all();
}

uint64_t DecodeMemory::capacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return capacity_;
}

void DecodeMemory::set_capacity(uint64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    capacity_ = bytes;
  }
  freed_.notify_all();
}

uint64_t DecodeMemory::reserved() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reserved_;
}

uint64_t DecodeMemory::peak() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

void DecodeMemory::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  peak_ = reserved_;
}

}  // namespace hsanet::data
