// Line plots as standalone SVG files (no dependencies): the loss and accuracy curves per epoch.
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

struct Series {
  std::string label;        // legend text
  std::vector<double> x;    // e.g. epochs
  std::vector<double> y;    // same length as x; non-finite points (and, on a log axis, values
                            // <= 0) are skipped
};

struct PlotOptions {
  std::string title;
  std::string x_label = "epoch";
  std::string y_label;
  int width = 720, height = 440;
  bool log_y = false;  // logarithmic y axis (losses: a first epoch's outlier would flatten the rest)
};

std::string svg_line_plot(const std::vector<Series>& series, const PlotOptions& opt);

}  // namespace hsanet::train
