#include "nn/summary.h"

#include <fmt/printf.h>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "autograd/node.h"

namespace hsanet::nn {

ModelSummary summarize(Module& model, int64_t height, int64_t width, int64_t channels) {
  const bool was_training = model.is_training();
  model.eval();
  ModelSummary s;
  {
    NoGradGuard no_grad;
    ModuleTrace trace;
    model.forward(Tensor::zeros({1, height, width, channels}));  // the root itself is not traced
    for (const TraceEntry& e : trace.entries())
      if (e.type != "Sequential") s.layers.push_back(e);  // torchsummary skips containers
  }
  model.train(was_training);
  double out_elems = 0;
  for (const TraceEntry& e : s.layers) {
    out_elems += static_cast<double>(numel(e.output)) / static_cast<double>(e.output[0]);
    s.gflops += e.flops / 1e9;
  }
  s.params = model.num_parameters();
  s.params_mb = static_cast<double>(s.params) * 4.0 / (1 << 20);
  s.fwd_bwd_mb = 2.0 * out_elems * 4.0 / (1 << 20);
  s.input_mb = static_cast<double>(height * width * channels) * 4.0 / (1 << 20);
  return s;
}

namespace {
std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}
}  // namespace

std::string summary_text(const ModelSummary& s, const std::string& title) {
  std::string out;
  std::string line;
  line = fmt::sprintf("%-34s %-16s %-22s %12s\n", "layer", "type", "output (NHWC)", "params");
  out += title + "\n" + std::string(88, '-') + "\n" + line + std::string(88, '-') + "\n";
  for (const TraceEntry& e : s.layers) {
    Shape shown = e.output;
    shown[0] = -1;  // batch
    std::string shape = shape_str(shown);
    line = fmt::sprintf("%-34s %-16s %-22s %12s\n", e.path.c_str(), e.type.c_str(),
                  shape.c_str(), e.hidden ? "-" : with_commas(e.params).c_str());
    out += line;
  }
  out += std::string(88, '-') + "\n";
  line = fmt::sprintf("Total params: %s\nParams size (MB): %.2f\nForward/backward pass size (MB): %.2f\n"
                "Input size (MB): %.2f\nEstimated total size (MB): %.2f\nForward GFLOPs (one image): %.2f\n",
                with_commas(s.params).c_str(), s.params_mb, s.fwd_bwd_mb, s.input_mb,
                s.params_mb + s.fwd_bwd_mb + s.input_mb, s.gflops);
  return out + line;
}

std::string summary_json(const ModelSummary& s, const std::string& model_name) {
  nlohmann::json j;
  j["model"] = model_name;
  j["params"] = s.params;
  j["params_mb"] = s.params_mb;
  j["fwd_bwd_mb"] = s.fwd_bwd_mb;
  j["input_mb"] = s.input_mb;
  j["gflops"] = s.gflops;
  auto& layers = j["layers"] = nlohmann::json::array();
  for (const TraceEntry& e : s.layers)
    layers.push_back({{"name", e.path}, {"type", e.type}, {"output", e.output}, {"params", e.params},
                      {"hidden", e.hidden}});
  return j.dump(2);
}

}  // namespace hsanet::nn
