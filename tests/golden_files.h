// The golden files of tests/golden (scripts/make_golden.py, scripts/make_golden_bf16.py): where
// they are, their tensors as doubles, and the model each one was written for.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradcheck.h"
#include "io/safetensors.h"
#include "models/model_config.h"

namespace hsanet::testing {

inline std::string golden_path(const std::string& name) {
  const char* src = std::getenv("HSANET_SOURCE_DIR");
  return std::string(src ? src : ".") + "/tests/golden/" + name + ".safetensors";
}

inline std::vector<double> as_double(const io::TensorRecord& r) {
  if (r.dtype != "F64") return to_double(r.to_float_tensor().to_vector());
  std::vector<double> v(static_cast<size_t>(r.numel()));
  std::memcpy(v.data(), r.bytes.data(), v.size() * sizeof(double));
  return v;
}

// The model options a golden file's metadata names.
inline models::ModelConfig golden_model_config(const io::SafeTensorsFile& f) {
  const auto opts = nlohmann::json::parse(f.metadata.at("options"));
  models::ModelConfig cfg;
  cfg.name = opts["name"];
  cfg.attention = opts["attention"];
  if (opts.contains("window")) cfg.window = opts["window"];
  cfg.num_classes = opts["num_classes"];
  cfg.height = opts["size"][0];
  cfg.width = opts["size"][1];
  cfg.attention_stages = opts["attention_stages"].get<std::vector<int>>();
  cfg.heads = opts["heads"];
  cfg.width_mult = opts["width_mult"];
  cfg.blocks = opts["blocks"].get<std::vector<int>>();
  return cfg;
}

}  // namespace hsanet::testing
