// hsanet predict: image files and folders in, the top-k identities with their probabilities out
// (on the console, or as a CSV), and optionally the pooled features as an embeddings matrix.
#include <fmt/printf.h>
#include <algorithm>
#include <filesystem>
#include <numeric>
#include <ostream>

#include <nlohmann/json.hpp>

#include "apps/train/embedder.h"
#include "apps/train/embeddings_file.h"
#include "apps/train/image_list.h"
#include "apps/train/tools.h"
#include "data/data_error.h"
#include "data/split.h"
#include "io/atomic_file.h"

namespace hsanet::train {

namespace {

using data::csv_field;

// The probabilities' indices, most probable first (the first on ties).
std::vector<int> ranked(const float* p, int n) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  return order;
}

std::string csv_header(int k) {
  std::string h = "path,true";
  for (int i = 1; i <= k; ++i) h += ",top" + std::to_string(i) + ",p" + std::to_string(i);
  return h + "\n";
}

}  // namespace

int predict_command(const PredictOptions& opt, std::ostream& out, std::ostream& err) {
  if (opt.top_k < 1) throw std::invalid_argument("--top-k must be at least 1");
  if (!opt.embeddings.empty()) {
    const std::string ext = std::filesystem::path(opt.embeddings).extension().string();
    if (ext != ".npy" && ext != ".safetensors")
      throw std::invalid_argument("--embeddings " + opt.embeddings + ": the name must end in .npy or .safetensors");
  }
  const Embedder embedder(opt.checkpoint, ops::parse_precision(opt.precision));
  const std::vector<std::string> images = list_images(opt.images);
  const auto& classes = embedder.classes();
  const int k = std::min<int>(opt.top_k, static_cast<int>(classes.size()));

  std::string csv = csv_header(k);
  EmbeddingRows emb;
  emb.dim = embedder.dim();
  int failures = 0, labelled = 0, correct = 0;
  for (const std::string& path : images) {
    Tensor f;
    try {
      f = embedder.features(path);
    } catch (const data::DataError& e) {
      err << "hsanet predict: " << e.what() << "\n";
      ++failures;
      continue;
    }
    const Tensor probs = embedder.probabilities(f);  // [1, classes]
    const float* p = probs.data();
    const std::vector<int> order = ranked(p, static_cast<int>(classes.size()));
    const int truth = embedder.label_of(parent_folder_name(path));
    const std::string truth_name = truth >= 0 ? classes[truth] : "";
    if (truth >= 0) {
      ++labelled;
      correct += order[0] == truth;
    }
    if (!opt.embeddings.empty()) {
      emb.values.insert(emb.values.end(), f.data(), f.data() + emb.dim);
      emb.paths.push_back(path);
      emb.labels.push_back(truth_name);
    }
    if (!opt.out.empty()) {
      csv += csv_field(path) + "," + csv_field(truth_name);
      for (int i = 0; i < k; ++i) {
        csv += ',';
        csv += csv_field(classes[order[i]]);
        csv += fmt::sprintf(",%.6f", p[order[i]]);
      }
      csv += "\n";
    } else if (opt.json) {
      nlohmann::json j = {{"file", path}, {"top", nlohmann::json::array()}};
      if (truth >= 0) j["true"] = truth_name;
      for (int i = 0; i < k; ++i) j["top"].push_back({{"class", classes[order[i]]}, {"probability", p[order[i]]}});
      out << j.dump() << "\n";
    } else {
      out << path;
      if (truth >= 0) out << "  (true: " << truth_name << ")";
      out << "\n";
      for (int i = 0; i < k; ++i) out << fmt::sprintf("  %d. %-20s %.4f\n", i + 1, classes[order[i]].c_str(), p[order[i]]);
    }
  }

  const int done = static_cast<int>(images.size()) - failures;
  if (!opt.out.empty()) {
    io::write_file_atomically(opt.out, csv);
    out << fmt::sprintf("wrote %d predictions (top %d) to %s\n", done, k, opt.out.c_str());
  }
  if (labelled > 1 && (!opt.out.empty() || !opt.json))
    out << fmt::sprintf("top-1 accuracy %.4f on the %d images whose folder names an identity\n",
                        static_cast<double>(correct) / labelled, labelled);
  if (!opt.embeddings.empty() && done > 0) {
    const std::string index = write_embeddings(
        opt.embeddings, emb,
        {{"checkpoint", opt.checkpoint}, {"model", embedder.run().model.name}, {"dim", std::to_string(emb.dim)}});
    out << fmt::sprintf("wrote %d embeddings of %d floats to %s (index: %s)\n", done, emb.dim, opt.embeddings.c_str(),
                        index.c_str());
  }
  return failures ? 1 : 0;
}

}  // namespace hsanet::train
