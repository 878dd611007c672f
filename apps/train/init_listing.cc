#include "apps/train/init_listing.h"

#include <fstream>
#include <map>
#include <stdexcept>

#include "io/checkpoint_io.h"

namespace hsanet::train {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// The file's tensors a model could take: no optimiser state, no BatchNorm step counters.
io::SafeTensorsFile model_tensors(const io::SafeTensorsFile& file) {
  io::SafeTensorsFile w;
  w.metadata = file.metadata;
  for (const auto& [name, record] : file.tensors)
    if (!starts_with(name, "optimizer.") && !ends_with(name, "num_batches_tracked")) w.tensors.emplace(name, record);
  return w;
}

// "layer4.0.conv_b.weight" -> "layer4.0.conv2.weight", "layer4.0.bn_b.bias" -> "layer4.0.bn2.bias";
// empty for any other name. The plain bottleneck's 3x3 layer the HSANet(3x3) branch copies.
std::string branch_source(const std::string& name) {
  for (const auto& [from, to] : {std::pair<std::string, std::string>{".conv_b.", ".conv2."}, {".bn_b.", ".bn2."}}) {
    const size_t at = name.rfind(from);
    if (at != std::string::npos) return name.substr(0, at) + to + name.substr(at + from.size());
  }
  return "";
}

}  // namespace

int InitListing::count(const std::string& status, const std::string& reason) const {
  int n = 0;
  for (const InitEntry& e : tensors) n += e.status == status && (reason.empty() || e.reason == reason);
  return n;
}

std::set<std::string> InitListing::loaded_names() const {
  std::set<std::string> s;
  for (const InitEntry& e : tensors)
    if (e.status == "loaded") s.insert(e.name);
  return s;
}

InitListing init_from_weights(const io::SafeTensorsFile& file, const std::string& source, const nn::Module& model) {
  const io::SafeTensorsFile weights = model_tensors(file);
  const io::StateDict targets = model.state_dict();
  const io::LoadReport by_name = io::load_state_dict(weights, source, targets, /*strict=*/false);

  // The HSANet(3x3) branch, for the tensors the file lacks by name: file tensor -> model tensor.
  std::set<std::string> missing(by_name.missing.begin(), by_name.missing.end());
  io::SafeTensorsFile renamed;
  io::StateDict branch_targets;
  std::map<std::string, std::string> from;  // model name -> file name
  for (const auto& [name, t] : targets) {
    if (!missing.count(name)) continue;
    const std::string src = branch_source(name);
    if (src.empty() || !weights.contains(src) || weights.at(src).shape != t.shape()) continue;
    renamed.tensors.emplace(name, weights.at(src));
    branch_targets.emplace_back(name, t);
    from[name] = src;
  }
  if (!branch_targets.empty()) io::load_state_dict(renamed, source, branch_targets, /*strict=*/false);

  InitListing listing;
  listing.source = source;
  const std::set<std::string> loaded(by_name.loaded.begin(), by_name.loaded.end());
  std::map<std::string, Shape> wrong;
  for (const auto& w : by_name.wrong_shape) wrong[w.name] = w.found;
  std::set<std::string> used;  // file tensors some model tensor took
  for (const auto& [name, t] : targets) {
    InitEntry e{.name = name, .shape = t.shape()};
    if (loaded.count(name)) {
      e.status = "loaded";
      used.insert(name);
    } else if (from.count(name)) {
      e.status = "loaded";
      e.from = from[name];
      used.insert(e.from);
    } else if (wrong.count(name)) {
      e.status = "fresh";
      e.reason = "shape differs";
      e.file_shape = wrong[name];
      used.insert(name);
    } else {
      e.status = "fresh";
      e.reason = "missing in the file";
    }
    listing.tensors.push_back(std::move(e));
  }
  for (const auto& [name, record] : weights.tensors)
    if (!used.count(name))
      listing.tensors.push_back({.name = name, .shape = record.shape, .status = "unused",
                                 .reason = "no tensor of this model has this name"});
  return listing;
}

std::string init_listing_summary(const InitListing& l, const std::string& saved_as) {
  int renamed = 0, shape_differs = 0;
  bool only_head = true;
  std::vector<std::string> fresh;
  for (const InitEntry& e : l.tensors) {
    renamed += !e.from.empty();
    if (e.status != "fresh") continue;
    only_head &= starts_with(e.name, "fc.");
    // Shape differences first: the head is the one a user looks for.
    if (e.reason == "shape differs")
      fresh.insert(fresh.begin() + shape_differs++, e.name + " (shape differs: file " + shape_str(e.file_shape) +
                                                        ", model " + shape_str(e.shape) + ")");
    else
      fresh.push_back(e.name + " (missing in the file)");
  }
  std::string s = "init-from " + l.source + ": loaded " + std::to_string(l.count("loaded")) + " tensors";
  if (renamed > 0) s += " (" + std::to_string(renamed) + " of them into the 3x3 branch from conv2/bn2)";
  s += ", created fresh " + std::to_string(l.count("fresh")) + " (" + std::to_string(l.count("fresh", "missing in the file")) +
       " missing in the file, " + std::to_string(l.count("fresh", "shape differs")) + " shape differs), unused in the file " +
       std::to_string(l.count("unused")) + "\n";
  const size_t shown = 6;
  for (size_t i = 0; i < fresh.size() && i < shown; ++i) s += "  fresh: " + fresh[i] + "\n";
  if (fresh.size() > shown) s += "  ... and " + std::to_string(fresh.size() - shown) + " more fresh\n";
  if (!fresh.empty() && only_head)
    s += "  note: the classifier head (fc.*) keeps its fresh initialisation for this run's classes\n";
  if (!saved_as.empty()) s += "  the full listing: " + saved_as + "\n";
  return s;
}

nlohmann::json init_listing_json(const InitListing& l) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const InitEntry& e : l.tensors) {
    nlohmann::json j = {{"name", e.name}, {"shape", e.shape}, {"status", e.status}};
    if (!e.reason.empty()) j["reason"] = e.reason;
    if (!e.from.empty()) j["from"] = e.from;
    if (!e.file_shape.empty()) j["file_shape"] = e.file_shape;
    tensors.push_back(std::move(j));
  }
  return {{"source", l.source},
          {"counts", {{"loaded", l.count("loaded")}, {"fresh", l.count("fresh")},
                      {"fresh_missing_in_file", l.count("fresh", "missing in the file")},
                      {"fresh_shape_differs", l.count("fresh", "shape differs")}, {"unused", l.count("unused")}}},
          {"tensors", std::move(tensors)}};
}

InitListing read_init_listing(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot be read (the run was started with --init-from and needs it)");
  InitListing l;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    l.source = j.at("source").get<std::string>();
    for (const auto& t : j.at("tensors"))
      l.tensors.push_back({.name = t.at("name").get<std::string>(), .shape = t.at("shape").get<Shape>(),
                           .status = t.at("status").get<std::string>()});
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": unreadable (" + e.what() + ")");
  }
  return l;
}

}  // namespace hsanet::train
