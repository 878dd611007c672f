// The picture sections of report.html: the gallery of validation images (true and predicted
// identity, confidence; wrong ones first) and the attention maps and Grad-CAM images that
// `hsanet explain` leaves in the run's explain/ folder.
#pragma once

#include <string>
#include <vector>

#include "apps/train/csv_table.h"

namespace hsanet::train {

struct GalleryItem {
  std::string file;        // relative to the data folder, as predictions.csv has it
  std::string truth, predicted;
  double confidence = -1;  // softmax probability of the prediction; < 0 when predictions.csv has none
  bool wrong() const { return truth != predicted; }
};

// predictions.csv rows ("file,true,pred[,confidence]") in gallery order: wrong predictions first,
// the most confident mistakes leading, then the right ones in file order. Throws naming `name`
// when the header or a row does not fit.
std::vector<GalleryItem> gallery_order(const std::vector<CsvRow>& rows, const std::string& name);

// The gallery's HTML: at most `limit` tiles, each a thumbnail of data_root/file (or a note naming
// a file that cannot be decoded, also added to `notes`).
std::string gallery_html(const std::vector<GalleryItem>& items, const std::string& data_root, int limit,
                         int thumbnail_side, std::vector<std::string>* notes);

// The explain section: every .png of run_dir/explain (sorted by name) embedded with its name as
// caption; without the folder, how to make it with hsanet explain.
std::string explain_html(const std::string& run_dir);

}  // namespace hsanet::train
