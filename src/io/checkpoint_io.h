// State dicts: a network's named float tensors <-> a safetensors file, module-agnostic.
//
// A model lists its parameters and buffers under PyTorch's names and in PyTorch's shapes (OIHW
// convolution weights, [out, in] linear weights), whatever layout it computes with; this layer
// only matches names and shapes and copies bytes.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.h"
#include "io/safetensors.h"

namespace hsanet::io {

// (name, tensor) in the model's order; names unique.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// What a load found. Names ending in "num_batches_tracked" (BatchNorm's step counter, an I64 in
// PyTorch files) are ignored on both sides and appear in no list.
struct LoadReport {
  struct WrongShape {
    std::string name;
    Shape expected;  // the target tensor's shape
    Shape found;     // the file's shape
  };
  std::vector<std::string> loaded;      // copied into the targets
  std::vector<std::string> missing;     // targets the file lacks
  std::vector<std::string> unexpected;  // file tensors no target asked for
  std::vector<WrongShape> wrong_shape;  // in both, shapes differ (not loaded)

  bool complete() const { return missing.empty() && unexpected.empty() && wrong_shape.empty(); }
  // One line per problem, e.g. "wrong shape: fc.weight: expected [26, 2048], file has [1000, 2048]".
  std::string summary() const;
};

// The thrown form of an incomplete strict load: the message is the file name and the summary.
class StateDictMismatch : public std::runtime_error {
 public:
  StateDictMismatch(const std::string& message, LoadReport report)
      : std::runtime_error(message), report_(std::move(report)) {}
  const LoadReport& report() const { return report_; }

 private:
  LoadReport report_;
};

// Writes every tensor as F32, crash-safely. With `require_finite` (the default), a NaN or an
// infinity in any tensor throws std::domain_error naming it before the file is touched: a
// diverged run must never overwrite the last good checkpoint.
void save_state_dict(const std::string& path, const StateDict& dict, const Metadata& metadata = {},
                     bool require_finite = true);

// Copies the file's tensors into the existing `targets` (their storage, in place, bumping each
// one's version so caches of derived weights refresh). Any dtype the reader knows is converted
// to float. Strict: anything missing, unexpected or of the wrong shape throws StateDictMismatch
// listing all of it, and nothing is copied. Not strict: the matching tensors are copied and the
// report says what was not (e.g. a torchvision ResNet-50 into a 26-class head: all but fc.*).
// Strict or not, a NaN or an infinity in a tensor to be copied throws std::domain_error naming
// the file, the tensor and the element, and nothing is copied.
LoadReport load_state_dict(const std::string& path, const StateDict& targets, bool strict = true);
// The same from a file already read (metadata alongside, e.g. a training checkpoint's step).
LoadReport load_state_dict(const SafeTensorsFile& file, const std::string& source,
                           const StateDict& targets, bool strict = true);

// Throws std::domain_error naming the file and the tensor when any floating-point tensor of the
// file (whether a model would load it or not: optimiser state too) holds a NaN or an infinity.
void require_finite_tensors(const SafeTensorsFile& file, const std::string& source);

}  // namespace hsanet::io
