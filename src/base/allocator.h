// The tensor allocator: 64-byte aligned blocks, kept in a cache of free blocks by size after
// release so that the next training step reuses them. A step allocates the same sizes in the
// same order every time, so after the first step almost every allocation is a cache hit: no
// system call, and no page faults from touching freshly mapped memory (which on large
// activations costs as much as the arithmetic of an element-wise op).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hsanet {

void* allocate_tensor_memory(size_t bytes);
void release_tensor_memory(void* p, size_t bytes);

struct AllocatorStats {
  int64_t allocations = 0;   // calls to allocate_tensor_memory
  int64_t cache_hits = 0;    // served from the cache
  int64_t bytes_in_use = 0;  // handed out and not yet released
  int64_t bytes_cached = 0;  // released and kept for reuse
  int64_t peak_bytes_in_use = 0;
};
AllocatorStats allocator_stats();
// Frees every cached block (the memory goes back to the system).
void release_cached_tensor_memory();
// Blocks below this many bytes are not cached (malloc's own bins serve them well).
constexpr size_t kMinCachedBytes = 1 << 16;

}  // namespace hsanet
