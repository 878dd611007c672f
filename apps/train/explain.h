// Seeing inside a network: the attention maps an MHSA computes (its softmax rows) and the
// Grad-CAM of a class at any layer whose output is a feature map, as float grids over that map.
// explain_render.h draws a grid over the face; explain_tool.cc is `hsanet explain`.
//
// Grad-CAM (Selvaraju et al.): A [h, w, C] the layer's output, S_c the class's logit,
//   w_k = mean over the h x w cells of dS_c / dA_k,   map = ReLU(sum_k w_k A_k) / its maximum.
#pragma once

#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "models/resnet.h"

namespace hsanet::train {

// A map over a feature map's cells; values [rows, cols], row-major.
struct MapGrid {
  int rows = 0, cols = 0;
  std::vector<float> values;  // [rows, cols]
  float at(int r, int c) const { return values[static_cast<size_t>(r) * cols + c]; }
};

// Every softmax row of one MHSA for one image.
struct AttentionMaps {
  std::string layer;  // the MHSA module's path, e.g. "layer4.2.mhsa"
  int heads = 0, rows = 0, cols = 0;  // the map the attention runs over
  int window = 0;                     // 0: global (keys are all cells); K: local K x K window
  std::vector<float> probs;           // [heads, rows * cols, keys], as the forward computed them
  int keys() const { return window ? window * window : rows * cols; }
  // Where query cell (y, x) of `head` looks: its softmax row laid out over the map's cells (cells
  // outside a local window hold 0). Sums to 1.
  MapGrid query_map(int head, int y, int x) const;
  // The mean of query_map over all queries of `head` (also sums to 1).
  MapGrid mean_map(int head) const;
};

struct GradCam {
  std::string layer;          // the module whose output is A
  int class_index = 0;        // the class whose logit was differentiated
  MapGrid map;                // ReLU(sum_k w_k A_k), divided by its maximum (all 0 when it is 0)
  std::vector<float> weights; // [C] w_k
  std::vector<float> logits;  // [classes] of the forward
};

// Module paths whose output is a feature map [1, h, w, C], in the order the forward computes
// them (the names --layer accepts for Grad-CAM): those whose output hook fires exactly once in a
// plain forward at the model's input size. Not a fused batch norm + ReLU (it bypasses both
// modules' calls), nor a ReLU module a block calls more than once.
std::vector<std::string> map_layer_names(models::ResNet& model);
// Paths of the model's MHSA modules ("layer4.0.mhsa", ...); empty for ResNet-50.
std::vector<std::string> attention_layer_names(const models::ResNet& model);
// The attention module that `layer` names: itself when it is an MHSA path, the MHSA inside it
// when it names a block or stage (the last one), and "" when there is none.
std::string attention_layer_for(const models::ResNet& model, const std::string& layer);

// image: [1, H, W, 3] NHWC, normalised as the model's evaluation transform does. The model
// should be in eval mode; neither call changes its weights or its gradients.
// Throws std::invalid_argument listing the valid names when `layer` is not one.
AttentionMaps attention_maps(models::ResNet& model, const Tensor& image, const std::string& layer);
// class_index < 0: the predicted class (the logits' argmax).
GradCam grad_cam(models::ResNet& model, const Tensor& image, const std::string& layer, int class_index);

}  // namespace hsanet::train
