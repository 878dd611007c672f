// --init-from: what a fine-tuning run took from a weights file, tensor by tensor.
//
// Tensors are matched by name and shape (a ResNet-50 checkpoint into any of the four models; a
// torchvision export; a run's own best.safetensors). One rule goes beyond names: the 3x3 branch of
// an HSANet(3x3) attention block (conv_b, bn_b) is the same layer as the 3x3 convolution it sits
// beside in a plain bottleneck (3x3, stride s, pad 1, C -> C, then a batch norm, on the same
// input t), so when the file has no conv_b of its own it is loaded from that block's conv2 and
// bn2, and the listing says so ("from": "layer4.0.conv2.weight").
//
// The listing is printed as a short summary and written whole to the run directory as
// init_from.json; the set of loaded parameters it records is what --freeze-epochs freezes and
// --lr-pretrained-mult scales, also after --resume.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "nn/module.h"

namespace hsanet::train {

inline constexpr const char* kInitListingFile = "init_from.json";

struct InitEntry {
  std::string name;       // the model's tensor name, or the file's for an unused one
  Shape shape;            // the model's shape (unused: the file's)
  std::string status;     // "loaded" | "fresh" | "unused"
  std::string reason;     // fresh: "missing in the file" | "shape differs"; unused: "no tensor of this model has this name"
  std::string from;       // loaded under another name: the file's tensor; else empty
  Shape file_shape;       // shape differs: the file's shape
};

struct InitListing {
  std::string source;              // the weights file
  std::vector<InitEntry> tensors;  // the model's tensors in its order, then the file's unused ones

  int count(const std::string& status, const std::string& reason = "") const;
  // Names of the model's tensors that were loaded (parameters and buffers).
  std::set<std::string> loaded_names() const;
};

// Loads what fits from `file` into `model` (optimizer.* entries ignored) and lists every tensor.
// Throws std::domain_error for a non-finite value, as load_state_dict.
InitListing init_from_weights(const io::SafeTensorsFile& file, const std::string& source, const nn::Module& model);

// A few lines for the console: counts, the fresh tensors by name (up to a handful), the
// classifier-head note, and where the full listing is.
std::string init_listing_summary(const InitListing& listing, const std::string& saved_as);

nlohmann::json init_listing_json(const InitListing& listing);
// Reads back the source and the loaded names of a run's init_from.json (for --resume); throws
// std::runtime_error naming the file when it is absent or unreadable.
InitListing read_init_listing(const std::string& path);

}  // namespace hsanet::train
