// Which key a query's attention slot looks at: the one definition of the local K x K window and
// of the global slot order, shared by the scalar reference (attention_ref.h) and the Highway
// kernels (attention.cc). The CUDA kernels carry a device copy (cuda/attention_kernels.cuh).
//
// Global: slot m is the key position m = (x', y'), adding rel_h row x' - x + H - 1 and rel_w row
//         y' - y + W - 1.
// Local:  slot m = i * K + j is the key (x + i - r, y + j - r), r = (K - 1) / 2, adding rel_h
//         row i and rel_w row j; the slot is empty (probability 0) when that key is off the map.
#pragma once

namespace hsanet::ops {

struct KeySlot {
  int key;    // key position x' * W + y' (meaningless when !valid)
  int row_h;  // row of rel_h
  int row_w;  // row of rel_w
  bool valid;
};

// Slot m of query (x, y) on an H x W map; K = 0 is global attention.
inline KeySlot key_slot(int H, int W, int K, int x, int y, int m) {
  if (!K) {
    const int x2 = m / W, y2 = m % W;
    return {m, x2 - x + H - 1, y2 - y + W - 1, true};
  }
  const int r = (K - 1) / 2;
  const int i = m / K, j = m % K;
  const int x2 = x + i - r, y2 = y + j - r;
  const bool valid = x2 >= 0 && x2 < H && y2 >= 0 && y2 < W;
  return {valid ? x2 * W + y2 : 0, i, j, valid};
}

// Local only: calls f(i, j, x2, y2) for each slot (i, j) of query (x, y)'s K x K window whose
// key (x2, y2) lies on the map, in slot order; the slots key_slot() calls valid, without its
// divisions (this runs once per key in the kernels' inner loops).
template <class F>
inline void for_each_window_key(int H, int W, int K, int x, int y, F&& f) {
  const int r = (K - 1) / 2;
  for (int i = 0; i < K; ++i) {
    const int x2 = x + i - r;
    if (x2 < 0 || x2 >= H) continue;
    for (int j = 0; j < K; ++j) {
      const int y2 = y + j - r;
      if (y2 >= 0 && y2 < W) f(i, j, x2, y2);
    }
  }
}

}  // namespace hsanet::ops
