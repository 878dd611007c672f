// The memory of all the decodes in flight, bounded together. Each decode (decode.cc) caps what
// stb_image may allocate at a budget derived from the header, up to about 1.5 GB for the largest
// picture the limits admit; with one decoding thread per worker or validation thread, those
// budgets multiply. A decode therefore first reserves its budget here and waits while the
// reservations of the others would exceed the capacity; a budget larger than the capacity waits
// until it is the only one (so the total stays under the capacity or one decode's budget).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace hsanet::data {

class DecodeMemory {
 public:
  // The process's: capacity kDefaultCapacity.
  static DecodeMemory& process();
  static constexpr uint64_t kDefaultCapacity = uint64_t{2} << 30;  // 2 GiB

  explicit DecodeMemory(uint64_t capacity) : capacity_(capacity) {}

  // Holds `bytes` of the capacity until destroyed.
  class Lease {
   public:
    Lease(DecodeMemory& memory, uint64_t bytes) : memory_(&memory), bytes_(bytes) {}
    Lease(Lease&& o) noexcept : memory_(o.memory_), bytes_(o.bytes_) { o.memory_ = nullptr; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (memory_) memory_->release(bytes_);
    }

   private:
    DecodeMemory* memory_;
    uint64_t bytes_;
  };

  // Waits until `bytes` fit (or nothing else is reserved), then reserves them.
  Lease reserve(uint64_t bytes);
  // Reserves only if `bytes` fit now; `ok` says whether it did (a failed lease holds nothing).
  Lease try_reserve(uint64_t bytes, bool& ok);

  uint64_t capacity() const;
  void set_capacity(uint64_t bytes);  // for tests and for programs that know their machine
  uint64_t reserved() const;
  uint64_t peak() const;              // the most reserved at once since the last reset_peak
  void reset_peak();

 private:
  bool fits(uint64_t bytes) const { return reserved_ == 0 || reserved_ + bytes <= capacity_; }
  void take(uint64_t bytes);
  void release(uint64_t bytes);

  mutable std::mutex mu_;
  std::condition_variable freed_;
  uint64_t capacity_;
  uint64_t reserved_ = 0;
  uint64_t peak_ = 0;
};

}  // namespace hsanet::data
