// Classification metrics: confusion matrix and a per-class report computed as
// sklearn.metrics.classification_report(zero_division=0) does, so numbers compare directly.
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

struct ClassScores {
  double precision = 0, recall = 0, f1 = 0;
  int support = 0;  // true samples of the class
};

struct ClassificationReport {
  std::vector<std::string> classes;
  std::vector<ClassScores> per_class;
  double accuracy = 0;
  ClassScores macro_avg;     // unweighted mean over classes
  ClassScores weighted_avg;  // support-weighted mean
  std::vector<std::vector<int>> confusion;  // [true][predicted]

  std::string to_text() const;
  std::string to_json() const;  // keys: accuracy, macro_avg, weighted_avg, per_class, confusion
};

// truth and predicted hold class indices in [0, classes.size()).
ClassificationReport classification_report(const std::vector<int>& truth,
                                           const std::vector<int>& predicted,
                                           const std::vector<std::string>& classes);

}  // namespace hsanet::train
