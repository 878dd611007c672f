// Model summary (the paper's Table 2): each layer's output shape and parameters, the total
// parameters, params MB (x4 / 2^20), the "forward/backward pass size" as torchsummary defines it
// (2 x the sum of every module call's output elements at batch 1 x 4 bytes) and forward GFLOPs.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"

namespace hsanet::nn {

struct ModelSummary {
  std::vector<TraceEntry> layers;  // every module call except containers and the root
  int64_t params = 0;              // all parameters of the model
  double params_mb = 0;            // params * 4 / 2^20
  double fwd_bwd_mb = 0;           // torchsummary's forward/backward pass size
  double input_mb = 0;             // one input image, float32
  double gflops = 0;               // forward, one image
};

// Runs one forward pass of `model` at batch 1 ([1, H, W, C] zeros) in eval and no-grad mode,
// tracing every module call. The model's training flag is restored afterwards.
ModelSummary summarize(Module& model, int64_t height, int64_t width, int64_t channels = 3);

std::string summary_text(const ModelSummary& s, const std::string& title);
std::string summary_json(const ModelSummary& s, const std::string& model_name);

}  // namespace hsanet::nn
