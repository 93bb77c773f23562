#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace pcplay {

namespace {

constexpr int kPanelW = 440, kPanelH = 300, kTitleH = 40;
constexpr int kLeft = 64, kRight = 16, kTop = 30, kBottom = 46;
const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}


void draw_panel(std::ostringstream& svg, const PlotPanel& p, int ox, int oy) {
  const double x0 = ox + kLeft, x1 = ox + kPanelW - kRight, y0 = oy + kPanelH - kBottom, y1 = oy + kTop;
  const Axis ax = fit_axis_to(p.series, true, p.log_x);
  const bool fixed_y = p.y_min < p.y_max && (!p.log_y || p.y_min > 0);
  const Axis ay = fixed_y ? Axis{p.y_min, p.y_max, p.log_y} : fit_axis_to(p.series, false, p.log_y);
  svg << "<g font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"11\">\n";
  svg << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << oy + 18 << "\" text-anchor=\"middle\" font-size=\"13\">"
      << escape(p.title) << "</text>\n";
  // Grid and ticks.
  for (double t : axis_ticks(ax.lo, ax.hi, ax.log_scale)) {
    const double x = ax.map(t, x0, x1);
    svg << "<line x1=\"" << x << "\" y1=\"" << y0 << "\" x2=\"" << x << "\" y2=\"" << y1
        << "\" stroke=\"#e5e5e5\"/><text x=\"" << x << "\" y=\"" << y0 + 14 << "\" text-anchor=\"middle\">"
        << tick_label(t) << "</text>\n";
  }
  for (double t : axis_ticks(ay.lo, ay.hi, ay.log_scale)) {
    const double y = ay.map(t, y0, y1);
    svg << "<line x1=\"" << x0 << "\" y1=\"" << y << "\" x2=\"" << x1 << "\" y2=\"" << y
        << "\" stroke=\"#e5e5e5\"/><text x=\"" << x0 - 5 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
        << tick_label(t) << "</text>\n";
  }
  svg << "<rect x=\"" << x0 << "\" y=\"" << y1 << "\" width=\"" << x1 - x0 << "\" height=\"" << y0 - y1
      << "\" fill=\"none\" stroke=\"#333\"/>\n";
  svg << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << y0 + 32 << "\" text-anchor=\"middle\">" << escape(p.x_label)
      << "</text>\n";
  svg << "<text transform=\"translate(" << ox + 14 << "," << (y0 + y1) / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape(p.y_label) << "</text>\n";
  // Series, clipped to the plot area.
  const std::string clip = "c" + std::to_string(ox) + "_" + std::to_string(oy);
  svg << "<clipPath id=\"" << clip << "\"><rect x=\"" << x0 << "\" y=\"" << y1 << "\" width=\"" << x1 - x0
      << "\" height=\"" << y0 - y1 << "\"/></clipPath>\n<g clip-path=\"url(#" << clip << ")\">\n";
  for (size_t k = 0; k < p.series.size(); ++k) {
    const PlotSeries& s = p.series[k];
    const char* color = kPalette[(s.color >= 0 ? s.color : static_cast<int>(k)) % 10];
    std::string path;
    bool pen_down = false;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!plottable(s.x[i], p.log_x) || !plottable(s.y[i], p.log_y)) {
        pen_down = false;
        continue;
      }
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%.1f %.1f ", pen_down ? "L" : "M", ax.map(s.x[i], x0, x1), ay.map(s.y[i], y0, y1));
      path += buf;
      pen_down = true;
    }
    if (!path.empty())
      svg << "<path d=\"" << path << "\" fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\""
          << (s.dashed ? " stroke-dasharray=\"5,3\"" : "") << "/>\n";
  }
  svg << "</g>\n";
  // Legend, on a translucent box as wide as its longest label, in the corner
  // where it hides the fewest of the curves' points (top right on a tie).
  int labelled = 0;
  size_t longest = 0;
  for (const PlotSeries& s : p.series)
    if (!s.label.empty()) {
      ++labelled;
      longest = std::max(longest, s.label.size());
    }
  if (labelled == 0) {
    svg << "</g>\n";
    return;
  }
  const double box_w = std::min(x1 - x0 - 8, 30 + 6.2 * static_cast<double>(longest)), box_h = 14.0 * labelled + 6;
  auto hidden = [&](double bx, double by) {
    long count = 0;
    for (const PlotSeries& s : p.series)
      for (size_t i = 0; i + 1 < s.x.size() && i + 1 < s.y.size(); ++i) {
        if (!plottable(s.x[i], p.log_x) || !plottable(s.y[i], p.log_y) || !plottable(s.x[i + 1], p.log_x) ||
            !plottable(s.y[i + 1], p.log_y))
          continue;
        const double xa = ax.map(s.x[i], x0, x1), ya = ay.map(s.y[i], y0, y1);
        const double xb = ax.map(s.x[i + 1], x0, x1), yb = ay.map(s.y[i + 1], y0, y1);
        for (int k = 0; k < 8; ++k) {  // points along the segment, so that sparse curves count too
          const double x = xa + (xb - xa) * k / 8, y = ya + (yb - ya) * k / 8;
          count += x >= bx && x <= bx + box_w && y >= by && y <= by + box_h;
        }
      }
    return count;
  };
  const double corners[4][2] = {{x1 - box_w - 4, y1 + 2}, {x0 + 4, y1 + 2}, {x1 - box_w - 4, y0 - box_h - 2},
                                {x0 + 4, y0 - box_h - 2}};
  int best = 0;
  long fewest = hidden(corners[0][0], corners[0][1]);
  for (int c = 1; c < 4; ++c) {
    const long n = hidden(corners[c][0], corners[c][1]);
    if (n < fewest) {
      fewest = n;
      best = c;
    }
  }
  const double bx = corners[best][0], by = corners[best][1];
  svg << "<rect x=\"" << bx << "\" y=\"" << by << "\" width=\"" << box_w << "\" height=\"" << box_h
      << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n";
  int row = 0;
  for (size_t k = 0; k < p.series.size(); ++k) {
    const PlotSeries& s = p.series[k];
    if (s.label.empty()) continue;
    const char* color = kPalette[(s.color >= 0 ? s.color : static_cast<int>(k)) % 10];
    const double ly = by + 12 + 14 * row++, lx = bx + 6;
    svg << "<line x1=\"" << lx << "\" y1=\"" << ly - 4 << "\" x2=\"" << lx + 18 << "\" y2=\"" << ly - 4
        << "\" stroke=\"" << color << "\" stroke-width=\"2\"" << (s.dashed ? " stroke-dasharray=\"5,3\"" : "")
        << "/><text x=\"" << lx + 22 << "\" y=\"" << ly << "\">" << escape(s.label) << "</text>\n";
  }
  svg << "</g>\n";
}

}  // namespace

std::string svg_figure(const std::string& title, const std::vector<PlotPanel>& panels, int columns) {
  columns = std::max(1, std::min(columns, static_cast<int>(panels.size())));
  const int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  const int width = columns * kPanelW, height = kTitleH + rows * kPanelH;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"26\" text-anchor=\"middle\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
      << "font-size=\"16\">" << escape(title) << "</text>\n";
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(svg, panels[i], static_cast<int>(i % columns) * kPanelW,
               kTitleH + static_cast<int>(i / columns) * kPanelH);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace pcplay
