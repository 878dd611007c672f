// hsanet verify: are two faces the same identity? The cosine similarity of their pooled features
// against a threshold; or, over every pair of a run's validation images, how well that separates
// same from different identities (ROC area, EER, TAR at fixed FAR).
#include <fmt/printf.h>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <ostream>

#include <nlohmann/json.hpp>

#include "apps/train/embedder.h"
#include "apps/train/roc.h"
#include "apps/train/tools.h"
#include "data/image_folder.h"
#include "data/split.h"
#include "io/atomic_file.h"

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

// Every pair of a run's validation images, scored by the cosine of their pooled features.
struct SplitPairs {
  RocSummary roc;
  std::string split_file;
  size_t images = 0;
};

SplitPairs score_split_pairs(const Embedder& embedder, const std::string& run_dir, const std::string& data,
                             std::ostream& err) {
  SplitPairs r;
  r.split_file = (fs::path(run_dir) / "split.csv").string();
  if (!fs::exists(r.split_file))
    throw std::runtime_error(run_dir + ": no split.csv there (is it a run directory?)");
  const std::string root = data.empty() ? embedder.run().config.data : data;
  if (root.empty() || !fs::is_directory(root)) throw std::runtime_error("--data: '" + root + "' is not a folder");
  const data::ImageFolder dataset = data::ImageFolder::open(root, {}, err);
  if (dataset.classes() != embedder.classes())
    throw std::runtime_error(root + " has " + std::to_string(dataset.num_classes()) +
                             " classes that are not the checkpoint's " + std::to_string(embedder.classes().size()) +
                             " (names and order must match)");
  const std::vector<int> val = data::read_split_csv(r.split_file, dataset).val;
  r.images = val.size();
  const int d = embedder.dim();
  std::vector<float> feats(val.size() * static_cast<size_t>(d));
  for (size_t i = 0; i < val.size(); ++i) {
    const Tensor f = embedder.features(dataset.full_path(val[i]));
    std::copy(f.data(), f.data() + d, feats.begin() + static_cast<std::ptrdiff_t>(i * d));
  }
  std::vector<double> scores;
  std::vector<bool> same;
  for (size_t i = 0; i < val.size(); ++i)
    for (size_t j = i + 1; j < val.size(); ++j) {
      scores.push_back(cosine_similarity(&feats[i * d], &feats[j * d], d));
      same.push_back(dataset.samples()[val[i]].label == dataset.samples()[val[j]].label);
    }
  r.roc = roc_summary(scores, same);
  return r;
}

// --threshold when given; else the EER threshold of the run beside the checkpoint (its split.csv),
// else kDefaultVerifyThreshold. `from` says which, for the output.
double resolve_threshold(const VerifyOptions& opt, const Embedder& embedder, std::string& from, std::ostream& err) {
  if (!std::isnan(opt.threshold)) {
    from = "--threshold";
    return opt.threshold;
  }
  const fs::path run_dir = fs::path(opt.checkpoint).parent_path();
  if (fs::exists(run_dir / "split.csv")) {
    try {
      std::ostringstream quiet;
      const SplitPairs p = score_split_pairs(embedder, run_dir.string(), opt.data, quiet);
      from = fmt::sprintf("the EER threshold over the %lld pairs of the %zu validation images of %s",
                          p.roc.same_pairs + p.roc.different_pairs, p.images, p.split_file.c_str());
      return p.roc.eer_threshold;
    } catch (const std::exception& e) {
      err << "hsanet verify: cannot calibrate on the run beside the checkpoint (" << e.what() << ")\n";
    }
  }
  from = "the default: no run beside the checkpoint to calibrate on";
  return kDefaultVerifyThreshold;
}

int verify_two(const VerifyOptions& opt, const Embedder& embedder, std::ostream& out, std::ostream& err) {
  const Tensor a = embedder.features(opt.images[0]);
  const Tensor b = embedder.features(opt.images[1]);
  const double cos = cosine_similarity(a.data(), b.data(), embedder.dim());
  std::string from;
  const double threshold = resolve_threshold(opt, embedder, from, err);
  const bool same = cos >= threshold;
  if (opt.json) {
    out << nlohmann::json{{"a", opt.images[0]}, {"b", opt.images[1]}, {"cosine", cos}, {"threshold", threshold},
                          {"threshold_from", from}, {"same", same}}.dump()
        << "\n";
  } else {
    out << fmt::sprintf("cosine similarity %.4f: %s (threshold %.4f, %s)\n", cos,
                        same ? "same identity" : "different identities", threshold, from.c_str());
  }
  return 0;
}

int verify_pairs(const VerifyOptions& opt, const Embedder& embedder, std::ostream& out, std::ostream& err) {
  if (!fs::is_directory(opt.pairs_from_split))
    throw std::runtime_error("--pairs-from-split " + opt.pairs_from_split + ": not a folder");
  const SplitPairs p = score_split_pairs(embedder, opt.pairs_from_split, opt.data, err);
  const RocSummary& roc = p.roc;
  const int d = embedder.dim();
  const std::string head = fmt::sprintf("%s: verification on all pairs of the %zu validation images of %s "
                                        "(cosine of %d-d pooled features)\n",
                                        opt.checkpoint.c_str(), p.images, p.split_file.c_str(), d);
  nlohmann::json j = roc_json(roc);
  j["checkpoint"] = opt.checkpoint;
  j["split"] = p.split_file;
  j["images"] = p.images;
  j["dim"] = d;
  if (!opt.out.empty()) {
    fs::create_directories(opt.out);
    io::write_file_atomically((fs::path(opt.out) / "verification.txt").string(), head + roc_text(roc));
    io::write_file_atomically((fs::path(opt.out) / "verification.json").string(), j.dump(2) + "\n");
  }
  if (opt.json)
    out << j.dump() << "\n";
  else
    out << head << roc_text(roc);
  if (!opt.out.empty() && !opt.json) out << "wrote " << opt.out << "/verification.txt and verification.json\n";
  return 0;
}

}  // namespace

int verify_command(const VerifyOptions& opt, std::ostream& out, std::ostream& err) {
  if (!std::isnan(opt.threshold) && !(opt.threshold >= -1 && opt.threshold <= 1))
    throw std::invalid_argument("--threshold must lie in [-1, 1] (a cosine similarity), not " + fmt::sprintf("%g", opt.threshold));
  if (opt.pairs_from_split.empty() && opt.images.size() != 2)
    throw std::invalid_argument("verify needs two images A B (or --pairs-from-split RUN_DIR), got " +
                                std::to_string(opt.images.size()));
  if (!opt.pairs_from_split.empty() && !opt.images.empty())
    throw std::invalid_argument("give either two images or --pairs-from-split, not both");
  const Embedder embedder(opt.checkpoint);
  return opt.pairs_from_split.empty() ? verify_two(opt, embedder, out, err) : verify_pairs(opt, embedder, out, err);
}

}  // namespace hsanet::train
