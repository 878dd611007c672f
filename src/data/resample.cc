#include "data/resample.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace hsanet::data {

namespace {

// For each output position i along one axis: source pixels [first[i], first[i] + count[i]) with
// weights w[i * max_taps + k], summing to 1.
struct Taps {
  std::vector<int> first, count;
  std::vector<float> w;
  int max_taps = 0;
};

Taps make_taps(int in_size, double b0, double b1, int out_size, ResizeFilter filter) {
  const double scale = (b1 - b0) / out_size;  // source pixels per output pixel
  const bool area = filter == ResizeFilter::Area && scale > 1.0;
  const double support = area ? 0.5 * scale : std::max(scale, 1.0);  // half-width of the window
  Taps t;
  t.max_taps = static_cast<int>(std::ceil(2 * support)) + 2;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.w.assign(static_cast<size_t>(out_size) * t.max_taps, 0.f);
  std::vector<double> w(t.max_taps);
  for (int i = 0; i < out_size; ++i) {
    const double centre = b0 + (i + 0.5) * scale;
    int lo = std::max(0, static_cast<int>(std::floor(centre - support)));
    int hi = std::min(in_size, static_cast<int>(std::ceil(centre + support)));
    hi = std::min(hi, lo + t.max_taps);
    double sum = 0;
    for (int j = lo; j < hi; ++j) {
      double wj;
      if (area) {  // overlap of pixel [j, j + 1) with the output pixel's footprint
        wj = std::min<double>(j + 1, centre + support) - std::max<double>(j, centre - support);
      } else {  // triangle at the pixel centre, stretched by the shrink factor
        wj = 1.0 - std::fabs((j + 0.5 - centre) / support);
      }
      w[j - lo] = std::max(0.0, wj);
      sum += w[j - lo];
    }
    if (hi <= lo || sum <= 0) {
      // The window fell outside the image (a box beyond the edge): take the nearest pixel.
      lo = std::clamp(static_cast<int>(std::floor(centre)), 0, in_size - 1);
      hi = lo + 1;
      w[0] = sum = 1.0;
    }
    t.first[i] = lo;
    t.count[i] = hi - lo;
    for (int k = 0; k < hi - lo; ++k) t.w[static_cast<size_t>(i) * t.max_taps + k] = static_cast<float>(w[k] / sum);
  }
  return t;
}

}  // namespace

void resample(const ImageView& src, const Box& box, int out_w, int out_h, ResizeFilter filter, float* dst) {
  // src: [src.height, src.width, 3] uint8 (row stride src.stride pixels); dst: [out_h, out_w, 3]
  if (out_w <= 0 || out_h <= 0 || src.width <= 0 || src.height <= 0 || !(box.x1 > box.x0) || !(box.y1 > box.y0))
    throw std::invalid_argument("resample: empty source, box or output (" + std::to_string(out_w) + "x" +
                                std::to_string(out_h) + ")");
  constexpr int C = Image::kChannels;
  const Taps tx = make_taps(src.width, box.x0, box.x1, out_w, filter);
  const Taps ty = make_taps(src.height, box.y0, box.y1, out_h, filter);
  const int row0 = ty.first.front();
  const int row1 = ty.first.back() + ty.count.back();  // rows the vertical pass reads: [row0, row1)

  // Horizontal pass: tmp[r - row0][x][c] = sum_k tx.w[x][k] * src[r][tx.first[x] + k][c]
  std::vector<float> tmp(static_cast<size_t>(row1 - row0) * out_w * C);
  for (int r = row0; r < row1; ++r) {
    const uint8_t* in = src.row(r);
    float* out = tmp.data() + static_cast<size_t>(r - row0) * out_w * C;
    for (int x = 0; x < out_w; ++x) {
      const float* w = tx.w.data() + static_cast<size_t>(x) * tx.max_taps;
      const uint8_t* p = in + static_cast<size_t>(tx.first[x]) * C;
      float a0 = 0, a1 = 0, a2 = 0;
      for (int k = 0; k < tx.count[x]; ++k, p += C) {
        a0 += w[k] * p[0];
        a1 += w[k] * p[1];
        a2 += w[k] * p[2];
      }
      out[x * C + 0] = a0;
      out[x * C + 1] = a1;
      out[x * C + 2] = a2;
    }
  }
  // Vertical pass: dst[y][x][c] = sum_k ty.w[y][k] * tmp[ty.first[y] + k - row0][x][c]
  const size_t row_len = static_cast<size_t>(out_w) * C;
  for (int y = 0; y < out_h; ++y) {
    float* out = dst + static_cast<size_t>(y) * row_len;
    std::fill(out, out + row_len, 0.f);
    const float* w = ty.w.data() + static_cast<size_t>(y) * ty.max_taps;
    for (int k = 0; k < ty.count[y]; ++k) {
      const float* in = tmp.data() + static_cast<size_t>(ty.first[y] + k - row0) * row_len;
      const float wk = w[k];
      for (size_t i = 0; i < row_len; ++i) out[i] += wk * in[i];
    }
  }
}

}  // namespace hsanet::data
