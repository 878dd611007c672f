#include "apps/train/report_explain.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

#include "apps/train/explain_tool.h"

namespace hsanet::train {

std::vector<std::string> explain_sample_images(const data::ImageFolder& dataset, const data::Split& split,
                                               int count) {
  std::vector<std::string> picked;
  std::set<int> labels;
  for (int index : split.val) {  // first pass: one face per identity
    if (static_cast<int>(picked.size()) == count) break;
    if (labels.insert(dataset.samples()[index].label).second) picked.push_back(dataset.full_path(index));
  }
  for (int index : split.val) {  // a split with fewer identities than `count`: fill up
    if (static_cast<int>(picked.size()) == count) break;
    const std::string path = dataset.full_path(index);
    if (std::find(picked.begin(), picked.end(), path) == picked.end()) picked.push_back(path);
  }
  return picked;
}

void write_explain_samples(const std::string& run_dir, const std::vector<std::string>& images, RunLog& log) {
  if (images.empty()) return;
  ExplainOptions opt;
  opt.checkpoint = run_dir + "/best.safetensors";
  opt.images = images;
  opt.out = run_dir + "/explain";
  opt.queries = {"mean"};
  std::ostringstream out, err;
  try {
    if (explain_command(opt, out, err) != 0) throw std::runtime_error(err.str());
  } catch (const std::exception& e) {
    log.line(std::string("explain/ not written: ") + e.what() + " (hsanet explain can make the maps)");
    return;
  }
  log.file_line("explain/: attention maps and Grad-CAM of " + std::to_string(images.size()) +
                " validation faces, for report.html");
}

}  // namespace hsanet::train
