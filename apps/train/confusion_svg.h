// The confusion matrix as an SVG heat map (confusion.svg beside confusion.csv, and inline in
// report.html): rows are true classes, columns predicted ones, each cell shaded by its share of
// the row (the class's recall on the diagonal) and labelled with its count when the grid is small
// enough to read.
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

std::string svg_confusion_matrix(const std::vector<std::string>& classes,
                                 const std::vector<std::vector<int>>& confusion);

}  // namespace hsanet::train
