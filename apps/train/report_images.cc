#include "apps/train/report_images.h"

#include <fmt/format.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "apps/train/base64.h"
#include "apps/train/html_text.h"
#include "apps/train/report_page.h"
#include "apps/train/thumbnail.h"

namespace hsanet::train {

namespace fs = std::filesystem;

std::vector<GalleryItem> gallery_order(const std::vector<CsvRow>& rows, const std::string& name) {
  if (rows.empty() || rows[0].size() < 3 || rows[0][0] != "file" || rows[0][1] != "true" || rows[0][2] != "pred")
    throw std::runtime_error(name + ": line 1 is not the header 'file,true,pred[,confidence]'");
  const bool has_confidence = rows[0].size() > 3;
  std::vector<GalleryItem> items;
  for (size_t i = 1; i < rows.size(); ++i) {
    const CsvRow& r = rows[i];
    if (r.size() != rows[0].size())
      throw std::runtime_error(fmt::format("{}: row {}: expected {} columns, found {}", name, i + 1, rows[0].size(), r.size()));
    GalleryItem it{r[0], r[1], r[2], -1};
    if (has_confidence) {
      try {
        it.confidence = std::stod(r[3]);
      } catch (const std::exception&) {
        throw std::runtime_error(fmt::format("{}: row {}: confidence '{}' is not a number", name, i + 1, r[3]));
      }
    }
    items.push_back(it);
  }
  std::stable_sort(items.begin(), items.end(), [](const GalleryItem& a, const GalleryItem& b) {
    if (a.wrong() != b.wrong()) return a.wrong();
    return a.wrong() && a.confidence > b.confidence;
  });
  return items;
}

std::string gallery_html(const std::vector<GalleryItem>& items, const std::string& data_root, int limit,
                         int thumbnail_side, std::vector<std::string>* notes) {
  size_t wrong = 0;
  for (const GalleryItem& it : items) wrong += it.wrong();
  std::string html = "<p>" + fmt::format("{} validation images, {} predicted wrongly (red, shown first).", items.size(), wrong);
  if (static_cast<int>(items.size()) > limit) html += fmt::format(" The first {} are shown.", limit);
  html += "</p>\n<div class=\"gallery\">\n";
  for (int i = 0; i < static_cast<int>(items.size()) && i < limit; ++i) {
    const GalleryItem& it = items[i];
    std::string picture;
    try {
      picture = "<img alt=\"" + html_escape(it.file) + "\" src=\"" + thumbnail_data_uri(data_root + "/" + it.file, thumbnail_side) + "\">";
    } catch (const std::exception& e) {
      picture = "<div class=\"note\">no image: " + html_escape(e.what()) + "</div>";
      if (notes) notes->push_back(e.what());
    }
    const std::string confidence = it.confidence >= 0 ? fmt::format("{:.1f}%", 100 * it.confidence) : "-";
    html += "<div class=\"tile" + std::string(it.wrong() ? " wrong" : "") + "\">" + picture + "<br>" +
            html_escape(it.file) + "<br>true: <b>" + html_escape(it.truth) + "</b><br>predicted: <b>" +
            html_escape(it.predicted) + "</b> (" + confidence + ")</div>\n";
  }
  return html + "</div>\n";
}

std::string explain_html(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "explain";
  std::vector<fs::path> pngs;
  if (fs::is_directory(dir))
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".png") pngs.push_back(e.path());
  if (pngs.empty())
    return html_note(std::string(fs::is_directory(dir) ? "The explain/ folder holds no PNG images." : "This run has no explain/ folder.") +
                     " Attention maps and Grad-CAM images are made by `hsanet explain` on this run's checkpoint, "
                     "with its output in the run directory's explain/ folder; then `hsanet report RUN_DIR` puts them here.");
  std::sort(pngs.begin(), pngs.end());
  std::string html = "<p>" + fmt::format("{} images from explain/ (attention maps and Grad-CAM, made by hsanet explain).", pngs.size()) +
                     "</p>\n<div class=\"explain\">\n";
  for (const fs::path& p : pngs) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read '" + p.string() + "'");
    std::ostringstream bytes;
    bytes << in.rdbuf();
    const std::string name = fs::relative(p, dir).generic_string();
    html += "<figure><img alt=\"" + html_escape(name) + "\" src=\"data:image/png;base64," + base64_encode(bytes.str()) +
            "\"><figcaption>" + html_escape(name) + "</figcaption></figure>\n";
  }
  return html + "</div>\n";
}

}  // namespace hsanet::train
