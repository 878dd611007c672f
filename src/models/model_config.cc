#include "models/model_config.h"

#include <algorithm>
#include <stdexcept>

namespace hsanet::models {

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"resnet50", "botnet50", "hsanet_x", "hsanet_3x3"};
  return names;
}

Branch ModelConfig::branch() const {
  if (name == "hsanet_x") return Branch::identity;
  if (name == "hsanet_3x3") return Branch::conv3x3;
  return Branch::none;
}

void ModelConfig::validate() const {
  const auto& names = model_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw std::invalid_argument("unknown model '" + name +
                                "' (choose resnet50, botnet50, hsanet_x or hsanet_3x3)");
  if (num_classes < 1) throw std::invalid_argument("number of classes must be at least 1");
  if (height < 32 || width < 32)
    throw std::invalid_argument("input size " + std::to_string(height) + "x" +
                                std::to_string(width) + " is too small (at least 32x32)");
  if (attention != "global" && attention != "local")
    throw std::invalid_argument("attention must be 'global' or 'local', not '" + attention + "'");
  if (attention == "local" && (window < 1 || window % 2 == 0))
    throw std::invalid_argument("local attention window must be odd and positive, got " +
                                std::to_string(window));
  if (heads < 1) throw std::invalid_argument("heads must be at least 1");
  if (!(width_mult > 0)) throw std::invalid_argument("width multiplier must be positive");
  if (blocks.size() != 4) throw std::invalid_argument("blocks must list 4 stages");
  for (int b : blocks)
    if (b < 1) throw std::invalid_argument("every stage needs at least one block");
  for (int s : attention_stages)
    if (s < 1 || s > 4) throw std::invalid_argument("attention stages are 1..4");
}

}  // namespace hsanet::models
