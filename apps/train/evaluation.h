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
  double top5 = 0;      // share of samples whose true label is among the 5 highest logits
  std::vector<int> indices;    // [n] sample indices into the data set, in loader order
  std::vector<int> truth;      // [n] true labels
  std::vector<int> predicted;  // [n] arg-max of the logits (the first on ties)
  std::vector<float> confidence;  // [n] softmax probability of the predicted class
};

// Runs every batch of `loader` (epoch 0 of a non-shuffling loader). The model's training flag is
// restored afterwards.
EvalResult evaluate(nn::Module& model, data::DataLoader& loader);

// Index of the largest of k values (the first on ties).
int argmax(const float* row, int k);

// Whether `label` is among the `top` largest of k values, ranking ties as argmax does (the
// earlier index first): top 1 is exactly argmax(row, k) == label.
bool in_top_k(const float* row, int k, int label, int top);

// Softmax probability of entry `j` of k logits.
float softmax_probability(const float* row, int k, int j);

// confusion.csv: a header row of predicted class names, then one row per true class.
void write_confusion_csv(const std::string& path, const ClassificationReport& report);
// predictions.csv: "file,true,pred,confidence" per sample (paths relative to the data root): the
// peer's three columns, then the softmax probability of the predicted class.
void write_predictions_csv(const std::string& path, const data::ImageFolder& dataset,
                           const EvalResult& result);

}  // namespace hsanet::train
