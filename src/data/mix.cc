#include "data/mix.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace hsanet::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

double uniform_open(Rng& rng) { return 1.0 - rng.uniform_double(); }  // (0, 1]

// A standard normal in double (Box-Muller; Rng::normal is float).
double normal(Rng& rng) {
  return std::sqrt(-2.0 * std::log(uniform_open(rng))) * std::cos(2.0 * kPi * rng.uniform_double());
}

// log of one Gamma(a, 1) draw. Marsaglia and Tsang (2000) for a >= 1; below 1,
// Gamma(a) = Gamma(a + 1) U^(1/a), whose log is the sum of the two logs.
double log_gamma_draw(double a, Rng& rng) {
  if (a < 1.0) return log_gamma_draw(a + 1.0, rng) + std::log(uniform_open(rng)) / a;
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = normal(rng);
    double v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = uniform_open(rng);
    if (u < 1.0 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v)))
      return std::log(d * v);
  }
}

// numpy's randint(lo, hi): uniform in [lo, hi).
int randint(int lo, int hi, Rng& rng) { return lo + static_cast<int>(rng.below(static_cast<uint64_t>(hi - lo))); }

}  // namespace

Rng mix_rng(uint64_t seed, int epoch, int64_t batch) {
  return Rng::derive(seed, static_cast<uint64_t>(epoch), (uint64_t{1} << 63) | static_cast<uint64_t>(batch));
}

double sample_beta(double a, double b, Rng& rng) {
  if (!(a > 0 && b > 0)) throw std::invalid_argument("sample_beta: both parameters must be positive");
  const double la = log_gamma_draw(a, rng), lb = log_gamma_draw(b, rng);
  // X / (X + Y) = 1 / (1 + exp(log Y - log X))
  return 1.0 / (1.0 + std::exp(lb - la));
}

Rect cutmix_box(int width, int height, double lambda, Rng& rng) {
  const double ratio = std::sqrt(std::max(0.0, 1.0 - lambda));
  const int cut_h = static_cast<int>(height * ratio), cut_w = static_cast<int>(width * ratio);
  const int cy = randint(0, height, rng), cx = randint(0, width, rng);
  const int yl = std::clamp(cy - cut_h / 2, 0, height), yh = std::clamp(cy + cut_h / 2, 0, height);
  const int xl = std::clamp(cx - cut_w / 2, 0, width), xh = std::clamp(cx + cut_w / 2, 0, width);
  return {xl, yl, xh - xl, yh - yl};
}

MixDraw draw_mix(const MixConfig& c, int width, int height, Rng& rng) {
  MixDraw d;
  if (!c.enabled() || !(rng.uniform_double() < c.prob)) return d;
  bool cutmix = c.mixup_alpha <= 0;
  if (c.mixup_alpha > 0 && c.cutmix_alpha > 0) cutmix = rng.uniform_double() < c.switch_prob;
  const double alpha = cutmix ? c.cutmix_alpha : c.mixup_alpha;
  d.lambda = sample_beta(alpha, alpha, rng);
  d.mode = cutmix ? MixMode::Cutmix : MixMode::Mixup;
  if (cutmix) {
    d.box = cutmix_box(width, height, d.lambda, rng);
    d.lambda = 1.0 - static_cast<double>(d.box.width) * d.box.height / (static_cast<double>(width) * height);
  }
  return d;
}

void apply_mix(float* images, int B, int height, int width, int channels, const MixDraw& d) {
  // images: [B, height, width, channels]; pairs (i, B-1-i) for i < B/2 are mixed with each other.
  const size_t per_image = static_cast<size_t>(height) * width * channels;
  const float lam = static_cast<float>(d.lambda), rest = static_cast<float>(1.0 - d.lambda);
  for (int i = 0; i < B / 2; ++i) {
    float* a = images + i * per_image;
    float* b = images + static_cast<size_t>(B - 1 - i) * per_image;
    if (d.mode == MixMode::Mixup) {
      for (size_t e = 0; e < per_image; ++e) {
        const float x = a[e], y = b[e];
        a[e] = lam * x + rest * y;
        b[e] = lam * y + rest * x;
      }
    } else if (d.mode == MixMode::Cutmix) {
      // Each takes the other's box: the swap is the paste from the flipped batch, both ways.
      const Rect& r = d.box;
      for (int y = r.y; y < r.y + r.height; ++y) {
        const size_t row = (static_cast<size_t>(y) * width + r.x) * channels;
        std::swap_ranges(a + row, a + row + static_cast<size_t>(r.width) * channels, b + row);
      }
    }
  }
}

std::vector<int> flipped_labels(const std::vector<int>& labels) {
  return std::vector<int>(labels.rbegin(), labels.rend());
}

std::vector<float> mixed_targets(const std::vector<int>& labels, const std::vector<int>& partner, double lambda,
                                 int num_classes, double smoothing) {
  if (partner.size() != labels.size())
    throw std::invalid_argument("mixed_targets: " + std::to_string(partner.size()) + " partner labels for " +
                                std::to_string(labels.size()));
  const size_t B = labels.size(), K = static_cast<size_t>(num_classes);
  const double off = smoothing / num_classes, on = 1.0 - smoothing + off;  // timm's one_hot(on, off)
  std::vector<float> t(B * K);  // [B, K]
  for (size_t i = 0; i < B; ++i) {
    for (int l : {labels[i], partner[i]})
      if (l < 0 || l >= num_classes)
        throw std::invalid_argument("mixed_targets: label " + std::to_string(l) + " outside [0, " +
                                    std::to_string(num_classes) + ")");
    for (size_t k = 0; k < K; ++k) {
      const double own = static_cast<int>(k) == labels[i] ? on : off;
      const double other = static_cast<int>(k) == partner[i] ? on : off;
      t[i * K + k] = static_cast<float>(lambda * own + (1.0 - lambda) * other);
    }
  }
  return t;
}

std::vector<int> dominant_labels(const std::vector<int>& labels, const std::vector<int>& partner, double lambda) {
  return lambda >= 0.5 ? labels : partner;
}

}  // namespace hsanet::data
