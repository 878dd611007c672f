#include "apps/train/evaluation.h"

#include <cmath>
#include <cstdio>

#include "autograd/functions_loss.h"
#include "autograd/node.h"
#include "data/split.h"
#include "io/atomic_file.h"
#include "nn/train_step.h"

namespace hsanet::train {

int argmax(const float* row, int k) { return static_cast<int>(nn::argmax(row, k)); }

bool in_top_k(const float* row, int k, int label, int top) {
  int ahead = 0;  // entries ranked before `label`
  for (int j = 0; j < k; ++j)
    if (row[j] > row[label] || (j < label && row[j] == row[label])) ++ahead;
  return ahead < top;
}

float softmax_probability(const float* row, int k, int j) {
  const float top = row[argmax(row, k)];
  double sum = 0;
  for (int i = 0; i < k; ++i) sum += std::exp(static_cast<double>(row[i] - top));
  return static_cast<float>(std::exp(static_cast<double>(row[j] - top)) / sum);
}

EvalResult evaluate(nn::Module& model, data::DataLoader& loader) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  EvalResult r;
  double loss_sum = 0;
  int correct = 0, correct5 = 0;
  loader.start_epoch(0);
  data::Batch b;
  while (loader.next(b)) {
    Tensor logits = model(b.images);  // [B, K]
    const int n = static_cast<int>(logits.size(0)), k = static_cast<int>(logits.size(1));
    std::vector<int32_t> labels(b.labels.begin(), b.labels.end());
    loss_sum += static_cast<double>(cross_entropy(logits, labels).item()) * n;
    for (int i = 0; i < n; ++i) {
      const float* row = logits.data() + static_cast<int64_t>(i) * k;
      const int p = argmax(row, k);
      r.predicted.push_back(p);
      r.confidence.push_back(softmax_probability(row, k, p));
      correct5 += in_top_k(row, k, b.labels[i], 5);
      r.truth.push_back(b.labels[i]);
      r.indices.push_back(b.indices[i]);
      correct += p == b.labels[i];
    }
  }
  model.train(was_training);
  const size_t n = r.truth.size();
  r.loss = n ? loss_sum / n : 0.0;
  r.accuracy = n ? static_cast<double>(correct) / n : 0.0;
  r.top5 = n ? static_cast<double>(correct5) / n : 0.0;
  return r;
}

using data::csv_field;  // RFC 4180 quoting for names that hold commas, quotes or line breaks

void write_confusion_csv(const std::string& path, const ClassificationReport& report) {
  std::string text = "true\\predicted";
  for (const auto& c : report.classes) {
    text += ',';
    text += csv_field(c);
  }
  text += '\n';
  for (size_t t = 0; t < report.classes.size(); ++t) {
    text += csv_field(report.classes[t]);
    for (int v : report.confusion[t]) {
      text += ',';
      text += std::to_string(v);
    }
    text += '\n';
  }
  io::write_file_atomically(path, text);
}

void write_predictions_csv(const std::string& path, const data::ImageFolder& dataset,
                           const EvalResult& result) {
  const auto& classes = dataset.classes();
  std::string text = "file,true,pred,confidence\n";
  char prob[32];
  for (size_t i = 0; i < result.indices.size(); ++i) {
    std::snprintf(prob, sizeof prob, "%.6f", i < result.confidence.size() ? result.confidence[i] : 0.0f);
    text += csv_field(dataset.samples()[result.indices[i]].path) + "," +
            csv_field(classes[result.truth[i]]) + "," + csv_field(classes[result.predicted[i]]) + "," + prob + "\n";
  }
  io::write_file_atomically(path, text);
}

}  // namespace hsanet::train
