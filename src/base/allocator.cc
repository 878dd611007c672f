#include "base/allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace hsanet {

namespace {

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  AllocatorStats stats;
  ~Cache() {
    for (auto& [size, p] : free_blocks) std::free(p);
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may be released during exit
  return *c;
}

constexpr size_t kHugePage = size_t{2} << 20;

// Rounded to 64 bytes (alignment) below the cached range, to 4 KiB pages above it, so that
// slightly different sizes (a different batch remainder, say) still share blocks less often
// than they fragment.
size_t round_size(size_t bytes) {
  if (bytes < kMinCachedBytes) return (bytes + 63) / 64 * 64;
  return (bytes + 4095) / 4096 * 4096;
}

// A new block from the system. Blocks of 2 MiB and more (every activation of the networks at
// 224x224) start on a 2 MiB boundary and ask the kernel for transparent huge pages: the ops
// stream through tens of megabytes per call, and with 4 KiB pages each 2 MiB costs 512 TLB
// misses. Measured: ResNet-50's training step 446 -> 433 ms (docs/performance.md). Where huge
// pages are off ("never"), madvise fails harmlessly and the block is an ordinary one.
void* fresh_block(size_t size) {
  if (size >= kHugePage) {
    void* p = nullptr;
    if (posix_memalign(&p, kHugePage, size) != 0) return nullptr;
    madvise(p, size / kHugePage * kHugePage, MADV_HUGEPAGE);  // only whole huge pages
    return p;
  }
  return std::aligned_alloc(64, size);
}

}  // namespace

void* allocate_tensor_memory(size_t bytes) {
  const size_t size = round_size(bytes == 0 ? 64 : bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.stats.allocations++;
    c.stats.bytes_in_use += static_cast<int64_t>(size);
    if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
    if (size >= kMinCachedBytes) {
      // Exact size only: no block is split or wasted. Among equal sizes, the most recently
      // released one (multimap keeps equal keys in insertion order): it is the likeliest to be
      // in cache still.
      auto it = c.free_blocks.upper_bound(size);
      if (it != c.free_blocks.begin() && std::prev(it)->first == size) {
        it = std::prev(it);
        void* p = it->second;
        c.free_blocks.erase(it);
        c.stats.cache_hits++;
        c.stats.bytes_cached -= static_cast<int64_t>(size);
        return p;
      }
    }
  }
  void* p = fresh_block(size);
  if (!p) {
    release_cached_tensor_memory();  // give the cache back and try once more
    p = fresh_block(size);
    if (!p) throw std::bad_alloc();
  }
  return p;
}

void release_tensor_memory(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = round_size(bytes == 0 ? 64 : bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.bytes_in_use -= static_cast<int64_t>(size);
  if (size < kMinCachedBytes) {
    std::free(p);
    return;
  }
  c.free_blocks.emplace(size, p);
  c.stats.bytes_cached += static_cast<int64_t>(size);
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void release_cached_tensor_memory() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [size, p] : c.free_blocks) std::free(p);
  c.free_blocks.clear();
  c.stats.bytes_cached = 0;
}

}  // namespace hsanet
