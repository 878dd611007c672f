#include "apps/train/metrics.h"

#include <fmt/printf.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace hsanet::train {

ClassificationReport classification_report(const std::vector<int>& truth,
                                           const std::vector<int>& predicted,
                                           const std::vector<std::string>& classes) {
  if (truth.size() != predicted.size())
    throw std::invalid_argument("classification_report: truth and predictions differ in length");
  const int K = static_cast<int>(classes.size());
  ClassificationReport r;
  r.classes = classes;
  r.confusion.assign(K, std::vector<int>(K, 0));
  int correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0 || truth[i] >= K || predicted[i] < 0 || predicted[i] >= K)
      throw std::invalid_argument("classification_report: class index out of range");
    r.confusion[truth[i]][predicted[i]]++;
    correct += truth[i] == predicted[i];
  }
  r.accuracy = truth.empty() ? 0.0 : static_cast<double>(correct) / truth.size();
  r.per_class.resize(K);
  int total = 0;
  for (int k = 0; k < K; ++k) {
    int tp = r.confusion[k][k], pred = 0, sup = 0;
    for (int j = 0; j < K; ++j) {
      pred += r.confusion[j][k];
      sup += r.confusion[k][j];
    }
    ClassScores& c = r.per_class[k];
    // zero_division=0: an undefined ratio (nothing predicted, or no support) counts as 0.
    c.precision = pred ? static_cast<double>(tp) / pred : 0.0;
    c.recall = sup ? static_cast<double>(tp) / sup : 0.0;
    c.f1 = c.precision + c.recall > 0 ? 2 * c.precision * c.recall / (c.precision + c.recall) : 0.0;
    c.support = sup;
    total += sup;
  }
  for (const ClassScores& c : r.per_class) {
    r.macro_avg.precision += c.precision / K;
    r.macro_avg.recall += c.recall / K;
    r.macro_avg.f1 += c.f1 / K;
    if (total) {
      const double w = static_cast<double>(c.support) / total;
      r.weighted_avg.precision += w * c.precision;
      r.weighted_avg.recall += w * c.recall;
      r.weighted_avg.f1 += w * c.f1;
    }
  }
  r.macro_avg.support = r.weighted_avg.support = total;
  return r;
}

std::string ClassificationReport::to_text() const {
  size_t w = 12;
  for (const auto& c : classes) w = std::max(w, c.size());
  std::string out;
  std::string line;
  line = fmt::sprintf("%*s %9s %9s %9s %9s\n\n", static_cast<int>(w), "", "precision",
                "recall", "f1-score", "support");
  out += line;
  for (size_t k = 0; k < classes.size(); ++k) {
    const ClassScores& c = per_class[k];
    line = fmt::sprintf("%*s %9.2f %9.2f %9.2f %9d\n", static_cast<int>(w),
                  classes[k].c_str(), c.precision, c.recall, c.f1, c.support);
    out += line;
  }
  line = fmt::sprintf("\n%*s %9s %9s %9.2f %9d\n", static_cast<int>(w), "accuracy", "",
                "", accuracy, macro_avg.support);
  out += line;
  line = fmt::sprintf("%*s %9.2f %9.2f %9.2f %9d\n", static_cast<int>(w), "macro avg",
                macro_avg.precision, macro_avg.recall, macro_avg.f1, macro_avg.support);
  out += line;
  line = fmt::sprintf("%*s %9.2f %9.2f %9.2f %9d\n", static_cast<int>(w),
                "weighted avg", weighted_avg.precision, weighted_avg.recall, weighted_avg.f1,
                weighted_avg.support);
  return out + line;
}

std::string ClassificationReport::to_json() const {
  auto scores = [](const ClassScores& c) {
    return nlohmann::json{{"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1},
                          {"support", c.support}};
  };
  nlohmann::json j;
  j["accuracy"] = accuracy;
  j["macro_avg"] = scores(macro_avg);
  j["weighted_avg"] = scores(weighted_avg);
  for (size_t k = 0; k < classes.size(); ++k) j["per_class"][classes[k]] = scores(per_class[k]);
  j["classes"] = classes;
  j["confusion"] = confusion;
  return j.dump(2);
}

}  // namespace hsanet::train
