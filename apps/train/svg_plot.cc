#include "apps/train/svg_plot.h"

#include <fmt/printf.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "apps/train/html_text.h"

namespace hsanet::train {

namespace {

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks over the span.
double nice_step(double span, int n) {
  const double raw = span / std::max(1, n);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

}  // namespace

std::string svg_line_plot(const std::vector<Series>& series, const PlotOptions& opt) {
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                  "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  // Plotted y: the value, or its decimal logarithm on a log axis (where values <= 0 cannot go).
  auto usable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!opt.log_y || y > 0); };
  auto ty = [&](double y) { return opt.log_y ? std::log10(y) : y; };
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const Series& s : series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (usable(s.x[i], s.y[i])) {
        x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, ty(s.y[i])), y1 = std::max(y1, ty(s.y[i]));
      }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1, y0 -= 1;
  // Grid lines with their labels, in plotted units: a nice step on a linear axis; on a log axis
  // every decade, with 2x and 5x between when there are few decades.
  std::vector<std::pair<double, double>> yticks;  // (plotted position, label value)
  if (opt.log_y) {
    y0 = std::floor(y0), y1 = std::ceil(y1);
    const bool minor = y1 - y0 <= 3;
    for (double d = y0; d <= y1 + 1e-9; d += 1)
      for (double m : {1.0, 2.0, 5.0})
        if ((m == 1.0 || minor) && d + std::log10(m) <= y1 + 1e-9) yticks.emplace_back(d + std::log10(m), m * std::pow(10.0, d));
  } else {
    const double ystep = nice_step(y1 - y0, 6);
    y0 = std::floor(y0 / ystep) * ystep, y1 = std::ceil(y1 / ystep) * ystep;
    for (double y = y0; y <= y1 + ystep * 1e-9; y += ystep) yticks.emplace_back(y, std::round(y / ystep) * ystep);
  }
  const double xstep = std::max(1.0, nice_step(x1 - x0, 8));

  const int W = opt.width, H = opt.height, L = 70, R = 170, T = 40, B = 50;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::string svg;
  std::string buf;
  buf = fmt::sprintf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                W, H, W, H);
  svg += buf;
  buf = fmt::sprintf("<text x=\"%d\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n",
                (W - R + L) / 2, html_escape(opt.title).c_str());
  svg += buf;
  for (const auto& [y, label] : yticks) {
    buf = fmt::sprintf("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                  L, py(y), W - R, py(y), L - 6, py(y) + 4, label);
    svg += buf;
  }
  for (double x = std::ceil(x0 / xstep) * xstep; x <= x1 + 1e-9; x += xstep) {
    buf = fmt::sprintf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>"
                  "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                  px(x), T, px(x), H - B, px(x), H - B + 16, x);
    svg += buf;
  }
  buf = fmt::sprintf("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n"
                "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">%s</text>\n",
                L, T, W - L - R, H - T - B, (W - R + L) / 2, H - 12, html_escape(opt.x_label).c_str(),
                (H - B + T) / 2, (H - B + T) / 2, html_escape(opt.y_label).c_str());
  svg += buf;
  for (size_t s = 0; s < series.size(); ++s) {
    const char* colour = colours[s % 8];
    std::string points;
    for (size_t i = 0; i < std::min(series[s].x.size(), series[s].y.size()); ++i)
      if (usable(series[s].x[i], series[s].y[i])) {
        buf = fmt::sprintf("%.1f,%.1f ", px(series[s].x[i]), py(ty(series[s].y[i])));
        points += buf;
      }
    svg += std::string("<polyline fill=\"none\" stroke=\"") + colour +
           "\" stroke-width=\"2\" points=\"" + points + "\"/>\n";
    buf = fmt::sprintf("<line x1=\"%d\" y1=\"%zu\" x2=\"%d\" y2=\"%zu\" stroke=\"%s\" stroke-width=\"2\"/>"
                  "<text x=\"%d\" y=\"%zu\">%s</text>\n",
                  W - R + 10, T + 10 + 18 * s, W - R + 30, T + 10 + 18 * s, colour, W - R + 36,
                  T + 14 + 18 * s, html_escape(series[s].label).c_str());
    svg += buf;
  }
  return svg + "</svg>\n";
}

}  // namespace hsanet::train
