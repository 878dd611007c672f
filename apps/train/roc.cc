#include "apps/train/roc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <fmt/printf.h>

namespace hsanet::train {

namespace {

// One operating point: accept every pair scoring at least `threshold`.
struct Point {
  double threshold, far, frr;
};

// Every distinct operating point, strictest first: the threshold above every score (accept
// nothing), then each distinct score in falling order.
std::vector<Point> operating_points(const std::vector<double>& scores, const std::vector<bool>& same,
                                    long long n_same, long long n_diff) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  // Just above the highest score: finite, so it prints and goes into JSON.
  const double above_all = std::nextafter(scores[order[0]], std::numeric_limits<double>::infinity());
  std::vector<Point> pts{{above_all, 0.0, 1.0}};
  long long acc_same = 0, acc_diff = 0;
  for (size_t i = 0; i < order.size();) {
    const double t = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == t; ++i) (same[order[i]] ? acc_same : acc_diff)++;
    pts.push_back({t, static_cast<double>(acc_diff) / n_diff, 1.0 - static_cast<double>(acc_same) / n_same});
  }
  return pts;
}

// Mann-Whitney: the share of (same, different) pairs ordered correctly, ties counting half.
double area_under_roc(const std::vector<double>& scores, const std::vector<bool>& same, long long n_same,
                      long long n_diff) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double correct = 0;
  long long diff_below = 0;
  for (size_t i = 0; i < order.size();) {
    const double t = scores[order[i]];
    long long tie_same = 0, tie_diff = 0;
    for (; i < order.size() && scores[order[i]] == t; ++i) (same[order[i]] ? tie_same : tie_diff)++;
    correct += tie_same * (diff_below + 0.5 * tie_diff);
    diff_below += tie_diff;
  }
  return correct / (static_cast<double>(n_same) * n_diff);
}

}  // namespace

RocSummary roc_summary(const std::vector<double>& scores, const std::vector<bool>& same,
                       const std::vector<double>& fars) {
  if (scores.size() != same.size())
    throw std::invalid_argument("roc_summary: " + std::to_string(scores.size()) + " scores for " +
                                std::to_string(same.size()) + " pairs");
  RocSummary s;
  for (bool b : same) (b ? s.same_pairs : s.different_pairs)++;
  if (s.same_pairs == 0 || s.different_pairs == 0)
    throw std::invalid_argument("an ROC needs both same-identity and different-identity pairs (got " +
                                std::to_string(s.same_pairs) + " same, " + std::to_string(s.different_pairs) +
                                " different)");
  for (double v : scores)
    if (!std::isfinite(v)) throw std::invalid_argument("roc_summary: a score is not finite");
  const std::vector<Point> pts = operating_points(scores, same, s.same_pairs, s.different_pairs);
  double best_gap = std::numeric_limits<double>::infinity();
  for (const Point& p : pts) {
    const double gap = std::fabs(p.far - p.frr);
    if (gap < best_gap) {
      best_gap = gap;
      s.eer = 0.5 * (p.far + p.frr);
      s.eer_threshold = p.threshold;
    }
  }
  s.auc = area_under_roc(scores, same, s.same_pairs, s.different_pairs);
  for (double far : fars) {
    TarAtFar t;
    t.far = far;
    t.available = s.different_pairs * far >= 1.0 - 1e-9;
    if (t.available) {
      for (const Point& p : pts)  // TAR only grows as the threshold falls: the last that fits wins
        if (p.far <= far) {
          t.tar = 1.0 - p.frr;
          t.threshold = p.threshold;
        }
    }
    s.tar_at_far.push_back(t);
  }
  return s;
}

std::string roc_text(const RocSummary& s) {
  std::string t = fmt::sprintf("pairs: %lld same identity, %lld different\n", s.same_pairs, s.different_pairs);
  t += fmt::sprintf("AUC  %.4f\n", s.auc);
  t += fmt::sprintf("EER  %.4f at threshold %.4f\n", s.eer, s.eer_threshold);
  for (const TarAtFar& f : s.tar_at_far) {
    if (f.available)
      t += fmt::sprintf("TAR  %.4f at FAR %g (threshold %.4f)\n", f.tar, f.far, f.threshold);
    else
      t += fmt::sprintf("TAR  n/a at FAR %g (needs at least %.0f different pairs)\n", f.far, std::ceil(1.0 / f.far));
  }
  return t;
}

nlohmann::json roc_json(const RocSummary& s) {
  nlohmann::json j = {{"same_pairs", s.same_pairs}, {"different_pairs", s.different_pairs}, {"auc", s.auc},
                      {"eer", s.eer}, {"eer_threshold", s.eer_threshold}, {"tar_at_far", nlohmann::json::array()}};
  for (const TarAtFar& f : s.tar_at_far) {
    nlohmann::json e = {{"far", f.far}};
    if (f.available) {
      e["tar"] = f.tar;
      e["threshold"] = f.threshold;
    } else {
      e["tar"] = nullptr;
    }
    j["tar_at_far"].push_back(e);
  }
  return j;
}

}  // namespace hsanet::train
