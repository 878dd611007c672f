#include "data/split.h"

#include <algorithm>
#include <cmath>

#include "data/data_error.h"
#include "data/python_random.h"

namespace hsanet::data {

Split stratified_split(const ImageFolder& dataset, double val_fraction, uint64_t seed) {
  Split split;
  const std::vector<Sample>& samples = dataset.samples();
  if (dataset.has_explicit_split()) {
    for (int i = 0; i < dataset.size(); ++i) (samples[i].subset == Subset::Val ? split.val : split.train).push_back(i);
    if (split.train.empty()) throw DataError(dataset.root(), "train/ has no images");
    if (split.val.empty()) throw DataError(dataset.root(), "val/ has no images");
    return split;
  }
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    throw DataError(dataset.root(), "validation fraction must be in [0, 1), got " + std::to_string(val_fraction));

  // Samples are ordered by (label, path): each class's files are already in sorted order.
  std::vector<std::vector<int>> per_class(dataset.num_classes());
  for (int i = 0; i < dataset.size(); ++i) per_class[samples[i].label].push_back(i);
  PythonRandom rng(seed);  // one generator for all classes, in class order, as the reference
  for (int c = 0; c < dataset.num_classes(); ++c) {
    std::vector<int>& files = per_class[c];
    rng.shuffle(files);
    const int n = static_cast<int>(files.size());
    const int k = std::max(1, round_half_up(val_fraction * n));
    if (k >= n)
      throw DataError(dataset.root() + "/" + dataset.classes()[c],
                      "class has " + std::to_string(n) + " image(s): too few for a train/validation split");
    split.val.insert(split.val.end(), files.begin(), files.begin() + k);
    split.train.insert(split.train.end(), files.begin() + k, files.end());
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.val.begin(), split.val.end());
  return split;
}

}  // namespace hsanet::data
