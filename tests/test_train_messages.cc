// Messages and reports carry names of any length: class names (folder names), titles and paths are
// written whole, never cut at a fixed buffer's end.
#include <gtest/gtest.h>

#include <string>

#include "apps/train/metrics.h"
#include "apps/train/svg_plot.h"

namespace hsanet::train {
namespace {

TEST(TrainMessages, ClassificationReportKeepsLongClassNamesWhole) {
  const std::string long_name(700, 'n');  // a folder name longer than any fixed line buffer
  const ClassificationReport r = classification_report({0, 1, 1}, {0, 1, 0}, {long_name, "b"});
  const std::string text = r.to_text();
  // The long class's row: the whole name, then its four columns.
  EXPECT_NE(text.find(long_name + "      0.50      1.00      0.67         1\n"), std::string::npos) << text;
  // The rows after it are padded to the long name's width, and are whole too.
  EXPECT_NE(text.find(std::string(long_name.size() - 12, ' ') + "weighted avg      0.83      0.67      0.67         3\n"),
            std::string::npos)
      << text;
}

TEST(TrainMessages, PlotKeepsALongTitleWhole) {
  const std::string title(900, 't');
  const std::string svg = svg_line_plot({{"loss", {0, 1, 2}, {1.0, 0.5, 0.25}}}, {.title = title});
  EXPECT_NE(svg.find(">" + title + "</text>"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace hsanet::train
