// The cache of weights made over into another layout: oneDNN's blocked layouts for the
// convolution primitives (conv2d_onednn.h) and the Winograd transforms U (conv2d_winograd.h).
// Each copy is made once per weight version, not once per call, so the forward and the
// backward-data of a step share it.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include <dnnl.hpp>

#include "ops/conv2d.h"

namespace hsanet::ops::detail {

class WeightCache {
 public:
  // The cached copy of this version of weight `w` in layout `md`, remade by fill(copy) when it is
  // missing or stale; nullptr when the call gives no owner (nothing to key the cache on).
  //   w: the caller's weights (OIHW)  returned copy: md.get_size() bytes, in layout md
  template <class Fill>
  float* copy(const float* w, const WeightId& wid, const dnnl::memory::desc& md, const Fill& fill) {
    const std::shared_ptr<const void> owner = wid.owner.lock();
    if (!owner) return nullptr;
    Entry* entry = find(owner.get(), wid, md);
    float* copy = nullptr;
    if (entry) copy = static_cast<float*>(entry->packed.get_data_handle());
    if (entry && entry->version == wid.version && entry->source == w) return copy;
    if (!entry) {
      entry = add(owner.get(), wid, md);
      copy = static_cast<float*>(entry->packed.get_data_handle());
    } else {
      prune();  // a new version: once per weight and step at most (entry stays valid)
    }
    fill(copy);
    entry->version = wid.version;
    entry->source = w;
    return copy;
  }

  // Copies whose owner is still alive.
  int64_t live() const;
  void clear() { entries_.clear(); }

 private:
  // One weight buffer in one layout. Keyed by the owner's address; `owner` (a weak pointer) tells
  // a live owner from a dead one whose address was reused, and `version` says whether the values
  // changed since the copy was made.
  struct Entry {
    std::weak_ptr<const void> owner;
    uint64_t version = 0;
    const float* source = nullptr;  // the OIHW buffer the copy was made from
    dnnl::memory::desc md;
    dnnl::memory packed;  // owns its buffer, in layout md
  };
  Entry* find(const void* key, const WeightId& wid, const dnnl::memory::desc& md);
  // A new entry with an empty buffer in layout md; first drops the entries of dead owners.
  Entry* add(const void* key, const WeightId& wid, const dnnl::memory::desc& md);
  // Drops the entries whose owner is gone (weights freed: a model, or folded copies of its
  // weights, nn/conv_bn_fold.h), so their buffers do not outlive them by more than a step.
  void prune();

  std::unordered_multimap<const void*, Entry> entries_;
};

}  // namespace hsanet::ops::detail
