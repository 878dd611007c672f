// Verification quality from scored pairs: the ROC's area, the equal error rate and the true
// accept rate at fixed false accept rates. A pair is accepted ("same identity") when its score
// is at least the threshold.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hsanet::train {

struct TarAtFar {
  double far = 0;        // the false accept rate asked for
  bool available = false;  // false when there are fewer than 1 / far different pairs
  double tar = 0;        // the best true accept rate whose false accept rate is at most `far`
  double threshold = 0;  // the threshold that gives it
};

struct RocSummary {
  long long same_pairs = 0, different_pairs = 0;
  double auc = 0;            // P(score of a same pair > score of a different pair), ties count half
  double eer = 0;            // where false accepts and false rejects are (closest to) equal: their mean
  double eer_threshold = 0;  // the threshold that gives it
  std::vector<TarAtFar> tar_at_far;
};

// scores[i] of pair i, same[i] whether its two faces share an identity. Throws
// std::invalid_argument when the lengths differ or either kind of pair is missing.
RocSummary roc_summary(const std::vector<double>& scores, const std::vector<bool>& same,
                       const std::vector<double>& fars = {1e-2, 1e-3});

std::string roc_text(const RocSummary& s);
nlohmann::json roc_json(const RocSummary& s);

}  // namespace hsanet::train
