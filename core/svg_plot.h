// A small SVG plot writer: a figure of panels, each with axes, ticks (linear
// or log), axis labels, a title, line series and a legend. Non-finite points
// (and non-positive ones on a log axis) break a line instead of ending it.
#pragma once

#include <string>
#include <vector>

#include "axis.h"

namespace pcplay {

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
  bool dashed = false;
  int color = -1;  // index into the palette; -1: the series' position
};

struct PlotPanel {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  double y_min = 0, y_max = 0;  // fixed y range when y_min < y_max, else fit to the data
  std::vector<PlotSeries> series;
};

// The panels in a grid of `columns`, under a title.
std::string svg_figure(const std::string& title, const std::vector<PlotPanel>& panels, int columns);

}  // namespace pcplay
