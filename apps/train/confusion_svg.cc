#include "apps/train/confusion_svg.h"

#include <fmt/format.h>
#include <algorithm>

#include "apps/train/html_text.h"

namespace hsanet::train {

std::string svg_confusion_matrix(const std::vector<std::string>& classes,
                                 const std::vector<std::vector<int>>& confusion) {
  const int n = static_cast<int>(classes.size());
  const int cell = n <= 12 ? 36 : n <= 40 ? 18 : std::max(4, 720 / std::max(n, 1));
  const bool counts = cell >= 18, names = cell >= 10;
  size_t longest = 0;
  for (const std::string& c : classes) longest = std::max(longest, c.size());
  const int label = names ? static_cast<int>(std::min<size_t>(longest, 16)) * 7 + 10 : 10;
  const int left = label + 30, top = label + 50;
  // At least wide enough for the title, however few the classes.
  const int W = std::max(left + n * cell + 20, 460), H = top + n * cell + 20;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"18\" font-size=\"14\">Confusion matrix (rows: true, columns: predicted)</text>\n",
      W, H);
  auto short_name = [](const std::string& s) { return s.size() > 16 ? s.substr(0, 15) + "~" : s; };
  for (int t = 0; t < n; ++t) {
    const auto& row = t < static_cast<int>(confusion.size()) ? confusion[t] : std::vector<int>{};
    long long total = 0;
    for (int v : row) total += v;
    if (names) {
      svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
                         left - 4, top + t * cell + cell / 2, html_escape(short_name(classes[t])));
      svg += fmt::format("<text transform=\"translate({},{}) rotate(-60)\">{}</text>\n", left + t * cell + cell / 2,
                         top - 4, html_escape(short_name(classes[t])));
    }
    for (int p = 0; p < n; ++p) {
      const int v = p < static_cast<int>(row.size()) ? row[p] : 0;
      const double share = total > 0 ? static_cast<double>(v) / total : 0.0;
      // White (none) to dark blue (the whole row); wrong cells with any count in red tones.
      const int r = t == p ? static_cast<int>(255 - 225 * share) : 255;
      const int g = static_cast<int>(255 - (t == p ? 175 : 200) * share);
      const int b = t == p ? 255 - static_cast<int>(75 * share) : static_cast<int>(255 - 200 * share);
      svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"rgb({},{},{})\" stroke=\"#ddd\">"
                         "<title>{} as {}: {}</title></rect>\n",
                         left + p * cell, top + t * cell, cell, cell, r, g, b, html_escape(classes[t]),
                         html_escape(classes[p]), v);
      if (counts && v > 0)
        svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" dominant-baseline=\"middle\" fill=\"{}\">{}</text>\n",
                           left + p * cell + cell / 2, top + t * cell + cell / 2, share > 0.5 ? "white" : "black", v);
    }
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">predicted</text>\n", left + n * cell / 2, H - 4);
  return svg + "</svg>\n";
}

}  // namespace hsanet::train
