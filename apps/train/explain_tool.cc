// hsanet explain: for each image, the attention maps of one MHSA (each head, chosen query cells
// and the mean over queries) and the Grad-CAM of chosen classes at one layer, as PNG overlays
// and CSV grids, listed in maps.csv.
#include "apps/train/explain_tool.h"

#include <algorithm>
#include <filesystem>
#include <ostream>
#include <stdexcept>

#include <fmt/format.h>

#include "apps/train/explain.h"
#include "apps/train/explain_render.h"
#include "apps/train/image_list.h"
#include "apps/train/inference_model.h"
#include "data/data_error.h"
#include "data/split.h"
#include "io/atomic_file.h"

namespace hsanet::train {

namespace {

namespace fs = std::filesystem;
using data::csv_field;

struct Query {
  bool mean = false;
  int y = 0, x = 0;
};

int parse_int(const std::string& s, const std::string& what) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size()) throw std::invalid_argument(what + ": '" + s + "' is not a whole number");
  return v;
}

std::vector<Query> parse_queries(const std::vector<std::string>& specs, int rows, int cols) {
  std::vector<Query> qs;
  if (specs.empty()) return {{false, rows / 2, cols / 2}, {true, 0, 0}};
  for (const std::string& s : specs) {
    if (s == "mean") {
      qs.push_back({true, 0, 0});
      continue;
    }
    const size_t comma = s.find(',');
    if (comma == std::string::npos) throw std::invalid_argument("--query '" + s + "': expected Y,X or mean");
    Query q{false, parse_int(s.substr(0, comma), "--query row"), parse_int(s.substr(comma + 1), "--query column")};
    if (q.y < 0 || q.y >= rows || q.x < 0 || q.x >= cols)
      throw std::invalid_argument(fmt::format("--query {}: the attention map is {}x{} (rows 0..{}, columns 0..{})", s,
                                              rows, cols, rows - 1, cols - 1));
    qs.push_back(q);
  }
  return qs;
}

std::vector<int> parse_heads(const std::string& spec, int heads) {
  std::vector<int> hs;
  if (spec == "all") {
    for (int h = 0; h < heads; ++h) hs.push_back(h);
    return hs;
  }
  const int h = parse_int(spec, "--head");
  if (h < 0 || h >= heads)
    throw std::invalid_argument(fmt::format("--head {}: the attention has heads 0..{} (or all)", spec, heads - 1));
  return {h};
}

// The class a --class choice names for one image: -1 for "true" when the label is unknown.
int class_of(const std::string& choice, const InferenceModel& em, int predicted, int truth) {
  if (choice == "pred") return predicted;
  if (choice == "true") return truth;
  const int named = em.label_of(choice);
  if (named >= 0) return named;
  int index = -1;
  try {
    index = parse_int(choice, "--class");
  } catch (const std::invalid_argument&) {
  }
  const int n = static_cast<int>(em.classes().size());
  if (index < 0 || index >= n)
    throw std::invalid_argument(fmt::format("--class {}: not pred, true, one of the checkpoint's identities or an "
                                            "index 0..{}",
                                            choice, n - 1));
  return index;
}

std::string file_stem(const std::string& path) {
  const std::string parent = parent_folder_name(path);
  const std::string stem = fs::path(path).stem().string();
  return parent.empty() ? stem : parent + "_" + stem;
}

struct Writer {
  const std::string& dir;
  std::string index = "image,kind,layer,head,query,class,png,csv\n";
  int written = 0;

  void write(const std::string& image, const std::string& name, const std::string& kind, const std::string& layer,
             const std::string& head, const std::string& query, const std::string& cls, const RgbImage& png,
             const MapGrid& grid) {
    const std::string png_path = (fs::path(dir) / (name + ".png")).string();
    const std::string csv_path = (fs::path(dir) / (name + ".csv")).string();
    write_png(png_path, png);
    io::write_file_atomically(csv_path, map_csv(grid));
    index += csv_field(image) + "," + kind + "," + layer + "," + head + "," + csv_field(query) + "," + csv_field(cls) + "," +
             csv_field(name + ".png") + "," + csv_field(name + ".csv") + "\n";
    ++written;
  }
};

}  // namespace

int explain_command(const ExplainOptions& opt, std::ostream& out, std::ostream& err) {
  if (opt.out.empty()) throw std::invalid_argument("--out: a folder for the maps is needed");
  InferenceModel em(opt.checkpoint);
  models::ResNet& model = em.model();
  const std::vector<std::string> layers = map_layer_names(model);
  if (std::find(layers.begin(), layers.end(), opt.layer) == layers.end()) {
    std::string valid;
    for (const auto& l : layers) valid += (valid.empty() ? "" : ", ") + l;
    throw std::invalid_argument("--layer " + opt.layer + ": " + em.run().model.name +
                                " has no layer of that name with a feature-map output; valid: " + valid);
  }
  // The attention module: the one --layer names or holds, else the model's last.
  std::string attn_layer;
  const std::vector<std::string> attn_names = attention_layer_names(model);
  if (!attn_names.empty()) {
    attn_layer = attention_layer_for(model, opt.layer);
    if (attn_layer.empty()) attn_layer = attn_names.back();
  }
  for (const auto& c : opt.classes) class_of(c, em, 0, 0);  // fail early on a bad --class
  const std::vector<std::string> choices = opt.classes.empty() ? std::vector<std::string>{"pred", "true"} : opt.classes;
  const std::vector<std::string> images = list_images(opt.images);
  std::error_code ec;
  fs::create_directories(opt.out, ec);
  if (ec) throw std::runtime_error(opt.out + ": cannot create the folder (" + ec.message() + ")");

  Writer w{opt.out};
  const auto& tc = em.transform();
  int failures = 0;
  for (const std::string& path : images) {
    Tensor x;  // [1, H, W, 3]
    try {
      x = em.input(path);
    } catch (const data::DataError& e) {
      err << "hsanet explain: " << e.what() << "\n";
      ++failures;
      continue;
    }
    const RgbImage face = image_from_input(x, tc.mean, tc.std);
    const std::string stem = file_stem(path);
    const int truth = em.label_of(parent_folder_name(path));

    if (!attn_layer.empty()) {
      const AttentionMaps a = attention_maps(model, x, attn_layer);
      const std::vector<Query> queries = parse_queries(opt.queries, a.rows, a.cols);
      for (int h : parse_heads(opt.head, a.heads))
        for (const Query& q : queries) {
          const MapGrid grid = q.mean ? a.mean_map(h) : a.query_map(h, q.y, q.x);
          RgbImage png = overlay_heat(face, normalised(grid));
          if (!q.mean) draw_box(png, cell_box(a.rows, a.cols, q.y, q.x, face.height, face.width));
          const std::string qname = q.mean ? "mean" : fmt::format("{}-{}", q.y, q.x);
          w.write(path, fmt::format("{}_attention_{}_head{}_query{}", stem, attn_layer, h, qname), "attention",
                  attn_layer, std::to_string(h), q.mean ? "mean" : fmt::format("{},{}", q.y, q.x), "", png, grid);
        }
    }

    int predicted = -1;
    for (const std::string& choice : choices) {
      if (predicted < 0) predicted = grad_cam(model, x, opt.layer, -1).class_index;
      const int c = class_of(choice, em, predicted, truth);
      if (c < 0) {
        if (!opt.classes.empty())
          err << "hsanet explain: " << path << ": no true class (its folder names none of the checkpoint's identities)\n";
        continue;
      }
      const GradCam cam = grad_cam(model, x, opt.layer, c);
      const std::string& name = em.classes()[c];
      const std::string label = (choice == "pred" || choice == "true") ? choice + "-" + name : name;
      w.write(path, fmt::format("{}_gradcam_{}_{}", stem, opt.layer, label), "gradcam", opt.layer, "", "", name,
              overlay_heat(face, cam.map), cam.map);
    }
    out << path << ": predicted " << em.classes()[predicted];
    if (truth >= 0) out << " (true: " << em.classes()[truth] << ")";
    out << "\n";
  }
  io::write_file_atomically((fs::path(opt.out) / "maps.csv").string(), w.index);
  out << fmt::format("wrote {} maps (PNG and CSV) for {} images to {}, listed in maps.csv\n", w.written,
                     static_cast<int>(images.size()) - failures, opt.out);
  return failures ? 1 : 0;
}

}  // namespace hsanet::train
