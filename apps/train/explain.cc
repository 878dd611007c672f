#include "apps/train/explain.h"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "autograd/node.h"
#include "models/mhsa.h"
#include "nn/module.h"
#include "ops/attention_ref.h"

namespace hsanet::train {

namespace {

void walk(const nn::Module& m, const std::function<void(const nn::Module&)>& visit) {
  visit(m);
  for (const auto& [name, child] : m.children()) walk(*child, visit);
}

nn::Module* find_module(const nn::Module& root, const std::string& path) {
  nn::Module* found = nullptr;
  walk(root, [&](const nn::Module& m) {
    if (!found && m.path() == path) found = const_cast<nn::Module*>(&m);
  });
  return found;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

void check_image(const models::ResNet& model, const Tensor& image) {
  const auto& cfg = model.config();
  const Shape want{1, cfg.height, cfg.width, 3};
  if (!image.defined() || image.shape() != want)
    throw std::invalid_argument("explain: the image must be " + shape_str(want) + " (NHWC, the model's input size), got " +
                                (image.defined() ? shape_str(image.shape()) : std::string("nothing")));
}

// Clears a hook however the scope ends.
template <class Hook>
struct HookReset {
  Hook& hook;
  ~HookReset() { hook = nullptr; }
};

}  // namespace

MapGrid AttentionMaps::query_map(int head, int y, int x) const {
  if (head < 0 || head >= heads || y < 0 || y >= rows || x < 0 || x >= cols)
    throw std::out_of_range("attention map: head " + std::to_string(head) + " query (" + std::to_string(y) + ", " +
                            std::to_string(x) + ") is outside " + std::to_string(heads) + " heads over a " +
                            std::to_string(rows) + "x" + std::to_string(cols) + " map");
  ops::AttentionDims dims;
  dims.height = rows;
  dims.width = cols;
  dims.heads = heads;
  dims.window = window;
  MapGrid g{rows, cols, std::vector<float>(static_cast<size_t>(rows) * cols, 0.f)};
  const int n = y * cols + x, M = keys();
  const float* p = probs.data() + (static_cast<size_t>(head) * rows * cols + n) * M;  // [keys]
  for (int m = 0; m < M; ++m) {
    const ops::KeySlot s = ops::ref::key_slot(dims, y, x, m);
    if (s.valid) g.values[s.key] += p[m];
  }
  return g;
}

MapGrid AttentionMaps::mean_map(int head) const {
  MapGrid g{rows, cols, std::vector<float>(static_cast<size_t>(rows) * cols, 0.f)};
  const float inv = 1.f / static_cast<float>(rows * cols);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x) {
      const MapGrid q = query_map(head, y, x);
      for (size_t i = 0; i < g.values.size(); ++i) g.values[i] += q.values[i] * inv;
    }
  return g;
}

std::vector<std::string> map_layer_names(models::ResNet& model) {
  // The modules whose output hook fires in a plain forward (a fused BN + ReLU bypasses its
  // modules' calls, so the summary's trace is not the list) once, with a feature map: a module
  // called several times (a block's shared ReLU) has no single output to explain.
  const auto& cfg = model.config();
  Tensor x = Tensor::zeros({1, cfg.height, cfg.width, 3});  // [1, H, W, 3]
  std::vector<nn::Module*> modules;
  walk(model, [&](const nn::Module& m) { modules.push_back(const_cast<nn::Module*>(&m)); });
  std::vector<std::string> order;
  std::vector<std::pair<int, bool>> calls(modules.size(), {0, false});  // (calls, 4-D output)
  for (size_t i = 0; i < modules.size(); ++i)
    modules[i]->output_hook = [&, i](const Tensor& y) {
      if (calls[i].first++ == 0) order.push_back(modules[i]->path());
      calls[i].second = y.ndim() == 4;
      return y;
    };
  try {
    NoGradGuard no_grad;
    model(x);
  } catch (...) {
    for (auto* m : modules) m->output_hook = nullptr;
    throw;
  }
  for (auto* m : modules) m->output_hook = nullptr;
  std::vector<std::string> names;
  for (const std::string& path : order)
    for (size_t i = 0; i < modules.size(); ++i)
      if (modules[i]->path() == path && !path.empty() && calls[i].first == 1 && calls[i].second) names.push_back(path);
  return names;
}

std::vector<std::string> attention_layer_names(const models::ResNet& model) {
  std::vector<std::string> names;
  walk(model, [&](const nn::Module& m) {
    if (dynamic_cast<const models::MHSA*>(&m)) names.push_back(m.path());
  });
  return names;
}

std::string attention_layer_for(const models::ResNet& model, const std::string& layer) {
  std::string last;
  for (const auto& name : attention_layer_names(model))
    if (name == layer || name.rfind(layer + ".", 0) == 0) last = name;
  return last;
}

AttentionMaps attention_maps(models::ResNet& model, const Tensor& image, const std::string& layer) {
  check_image(model, image);
  auto* mhsa = dynamic_cast<models::MHSA*>(find_module(model, layer));
  if (!mhsa) {
    const auto names = attention_layer_names(model);
    throw std::invalid_argument("no attention module named '" + layer + "' in " + model.config().name +
                                (names.empty() ? std::string(" (it has none)") : "; valid: " + joined(names)));
  }
  Tensor probs;  // [1, heads, H*W, keys]
  mhsa->probs_hook = [&](const Tensor& p) { probs = p.clone(); };
  HookReset<decltype(mhsa->probs_hook)> reset{mhsa->probs_hook};
  {
    NoGradGuard no_grad;
    model(image);
  }
  if (!probs.defined()) throw std::logic_error("explain: the forward did not run " + layer);
  AttentionMaps a;
  a.layer = layer;
  a.heads = mhsa->heads;
  a.rows = mhsa->height;
  a.cols = mhsa->width;
  a.window = mhsa->window;
  a.probs = probs.to_vector();
  return a;
}

GradCam grad_cam(models::ResNet& model, const Tensor& image, const std::string& layer, int class_index) {
  check_image(model, image);
  nn::Module* target = find_module(model, layer);
  const std::vector<std::string> valid = map_layer_names(model);
  if (!target || std::find(valid.begin(), valid.end(), layer) == valid.end()) {
    throw std::invalid_argument("no layer named '" + layer + "' with a feature-map output in " + model.config().name +
                                "; valid: " + joined(valid));
  }
  // The parameters need no gradient here: switch them off for the pass, and back on after.
  std::vector<Tensor> params = model.parameters();
  std::vector<bool> was(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    was[i] = params[i].requires_grad();
    params[i].set_requires_grad(false);
  }
  struct Restore {
    std::vector<Tensor>& p;
    std::vector<bool>& on;
    ~Restore() {
      for (size_t i = 0; i < p.size(); ++i) p[i].set_requires_grad(on[i]);
    }
  } restore{params, was};

  Tensor A;  // [1, h, w, C]: the layer's output, made a leaf so that backward stops and keeps its gradient
  target->output_hook = [&](const Tensor& y) {
    A = y.detach();
    A.set_requires_grad(true);
    return A;
  };
  HookReset<decltype(target->output_hook)> reset{target->output_hook};
  Tensor logits = model(image);  // [1, classes]
  target->output_hook = nullptr;
  if (!A.defined()) throw std::logic_error("explain: the forward did not call " + layer);
  if (A.ndim() != 4)
    throw std::invalid_argument("layer '" + layer + "' outputs " + shape_str(A.shape()) +
                                ", not a feature map; valid: " + joined(map_layer_names(model)));
  GradCam cam;
  cam.layer = layer;
  cam.logits = logits.detach().to_vector();
  const int classes = static_cast<int>(cam.logits.size());
  if (class_index >= classes)
    throw std::invalid_argument("class " + std::to_string(class_index) + " is not below the model's " +
                                std::to_string(classes) + " classes");
  if (class_index < 0)
    class_index = static_cast<int>(std::max_element(cam.logits.begin(), cam.logits.end()) - cam.logits.begin());
  cam.class_index = class_index;
  Tensor seed = Tensor::zeros(logits.shape());  // [1, classes]: d(logit_c)/d(logits)
  seed.data()[class_index] = 1.f;
  logits.backward(seed);
  const Tensor G = A.grad();  // [1, h, w, C]
  const int h = static_cast<int>(A.size(1)), w = static_cast<int>(A.size(2)), C = static_cast<int>(A.size(3));
  cam.weights.assign(C, 0.f);
  cam.map = {h, w, std::vector<float>(static_cast<size_t>(h) * w, 0.f)};
  if (G.defined()) {  // undefined when the class's logit does not depend on A (cannot happen after a stage)
    const float* g = G.data();
    for (int i = 0; i < h * w; ++i)
      for (int c = 0; c < C; ++c) cam.weights[c] += g[static_cast<size_t>(i) * C + c];
    for (float& v : cam.weights) v /= static_cast<float>(h * w);
  }
  const float* a = A.data();
  float top = 0;
  for (int i = 0; i < h * w; ++i) {
    double s = 0;
    for (int c = 0; c < C; ++c) s += static_cast<double>(cam.weights[c]) * a[static_cast<size_t>(i) * C + c];
    cam.map.values[i] = static_cast<float>(std::max(0.0, s));
    top = std::max(top, cam.map.values[i]);
  }
  if (top > 0)
    for (float& v : cam.map.values) v /= top;
  return cam;
}

}  // namespace hsanet::train
