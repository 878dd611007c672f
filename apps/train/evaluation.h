// Evaluation: a model over a loader's samples, in eval mode and without the tape, and the files
// that describe the result (classification report, confusion matrix, predictions).
#pragma once

#include <string>
#include <vector>

#include "apps/train/metrics.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "nn/module.h"

namespace hsanet::train {

struct EvalResult {
  double loss = 0;      // mean cross-entropy (no label smoothing)
  double accuracy = 0;  // share of correct top-1 predictions
  std::vector<int> indices;    // [n] sample indices into the data set, in loader order
  std::vector<int> truth;      // [n] true labels
  std::vector<int> predicted;  // [n] arg-max of the logits (the first on ties)
};

// Runs every batch of `loader` (epoch 0 of a non-shuffling loader). The model's training flag is
// restored afterwards.
EvalResult evaluate(nn::Module& model, data::DataLoader& loader);

// Index of the largest of k values (the first on ties).
int argmax(const float* row, int k);

// confusion.csv: a header row of predicted class names, then one row per true class.
void write_confusion_csv(const std::string& path, const ClassificationReport& report);
// predictions.csv: "file,true,pred" per sample (paths relative to the data root), as the peer.
void write_predictions_csv(const std::string& path, const data::ImageFolder& dataset,
                           const EvalResult& result);

}  // namespace hsanet::train
