#include "ops/weight_cache.h"

#include <iterator>
#include <utility>

#include "ops/onednn_engine.h"

namespace hsanet::ops::detail {
namespace {

bool same_owner(const std::weak_ptr<const void>& a, const std::weak_ptr<const void>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

}  // namespace

WeightCache::Entry* WeightCache::find(const void* key, const WeightId& wid,
                                      const dnnl::memory::desc& md) {
  Entry* entry = nullptr;
  auto range = entries_.equal_range(key);
  for (auto it = range.first; it != range.second; ++it)
    if (same_owner(it->second.owner, wid.owner) && it->second.md == md) entry = &it->second;
  return entry;
}

WeightCache::Entry* WeightCache::add(const void* key, const WeightId& wid,
                                     const dnnl::memory::desc& md) {
  prune();  // new entries are rare: once per weight and layout
  Entry fresh;
  fresh.owner = wid.owner;
  fresh.md = md;
  fresh.packed = dnnl::memory(md, onednn_engine());
  return &entries_.emplace(key, std::move(fresh))->second;
}

void WeightCache::prune() {
  for (auto it = entries_.begin(); it != entries_.end();)
    it = it->second.owner.expired() ? entries_.erase(it) : std::next(it);
}

int64_t WeightCache::live() const {
  int64_t n = 0;
  for (const auto& kv : entries_) n += kv.second.owner.expired() ? 0 : 1;
  return n;
}

}  // namespace hsanet::ops::detail
