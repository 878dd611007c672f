#include "models/mhsa.h"

#include <cmath>
#include <stdexcept>

#include "autograd/functions_attention.h"
#include "base/random.h"

namespace hsanet::models {

RelPosEmb2d::RelPosEmb2d(int rows_h, int rows_w, int head_dim, Rng& rng) {
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  rel_height = register_parameter("rel_height", Tensor::randn({rows_h, head_dim}, rng, 0.f, scale));
  rel_width = register_parameter("rel_width", Tensor::randn({rows_w, head_dim}, rng, 0.f, scale));
}

MHSA::MHSA(int channels, int height, int width, int heads, int window, Rng& rng)
    : channels(channels), height(height), width(width), heads(heads), window(window) {
  if (channels % heads != 0)
    throw std::invalid_argument("MHSA: " + std::to_string(heads) + " heads do not divide " +
                                std::to_string(channels) + " channels");
  const int d = channels / heads;
  qkv = register_module("qkv", std::make_shared<nn::Conv2d>(channels, 3 * channels, 1, rng));
  rel_pos = register_module("rel_pos", window ? std::make_shared<RelPosEmb2d>(window, window, d, rng)
                                              : std::make_shared<RelPosEmb2d>(2 * height - 1,
                                                                              2 * width - 1, d, rng));
}

Tensor MHSA::forward(const Tensor& t) {
  if (t.ndim() != 4 || t.size(1) != height || t.size(2) != width || t.size(3) != channels)
    throw std::invalid_argument("MHSA built for [N, " + std::to_string(height) + ", " +
                                std::to_string(width) + ", " + std::to_string(channels) +
                                "] inputs got " + shape_str(t.shape()) +
                                " (the relative tables fix the map size: build the model for "
                                "this input size)");
  Tensor qkv_out = (*qkv)(t);  // [N, H, W, 3C]
  if (!probs_hook)
    return mhsa(qkv_out, rel_pos->rel_height, rel_pos->rel_width, heads, window, nullptr, device);
  Tensor probs;  // [N, heads, H*W, keys]
  Tensor out = mhsa(qkv_out, rel_pos->rel_height, rel_pos->rel_width, heads, window, &probs, device);
  probs_hook(probs);
  return out;
}

double MHSA::flops(const Shape& in, const Shape&) const {
  // Per image and head: logits q.k (N x keys x d), relative logits (N x (rows_h + rows_w) x d
  // when computed per table row), and P.v (N x keys x d); 2 FLOPs per multiply-add.
  const double N = static_cast<double>(height) * width, d = channels / heads;
  const double keys = window ? window * window : N;
  const double rel_rows = window ? 2.0 * window : (2.0 * height - 1) + (2.0 * width - 1);
  return static_cast<double>(in[0]) * heads * 2.0 * (N * keys * d * 2 + N * rel_rows * d);
}

std::vector<std::pair<std::string, Shape>> MHSA::hidden_outputs(const Shape& in) const {
  const int64_t N = static_cast<int64_t>(height) * width;
  const int64_t keys = window ? static_cast<int64_t>(window) * window : N;
  const Shape logits{in[0], heads, N, keys};
  return {{"RelPosEmb2d", logits}, {"Softmax", logits}};
}

}  // namespace hsanet::models
