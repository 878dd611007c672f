// hsanet explain CHECKPOINT IMAGE_OR_FOLDER... --out DIR: attention maps and Grad-CAM drawn over
// each face (PNG) with the raw grids (CSV) and an index of everything written (maps.csv).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace hsanet::train {

struct ExplainOptions {
  std::string checkpoint;           // written by cpu_train (names the classes and the input size)
  std::vector<std::string> images;  // image files and folders (walked recursively, sorted)
  std::string out;                  // folder for the PNGs, CSVs and maps.csv (created)
  std::string layer = "layer4";     // Grad-CAM's layer; also picks the attention module (see --help)
  std::string head = "all";         // all | a head index
  std::vector<std::string> queries; // "Y,X" cells and/or "mean"; none: the centre cell and mean
  std::vector<std::string> classes; // pred | true | identity name | class index; none: pred, true
};
int explain_command(const ExplainOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace hsanet::train
