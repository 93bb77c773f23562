// Plots on ImGui draw lists (ImPlot cannot be installed here): line series
// with axes, ticks, linear or log scales, a legend and a hover read-out; heat
// maps. The tick logic is the core's (axis_ticks), shared with the SVG export.
#pragma once

#include <imgui.h>

#include <string>
#include <vector>

namespace pcplay::ui::plot {

struct Series {
  std::string label;
  std::vector<float> x, y;
  ImU32 color;
  bool dashed = false;
};

struct Options {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  float y_min = 0, y_max = 0;  // a fixed y range when y_min < y_max
  bool legend = true;          // small multiples show it once
};

// The palette, by index (tab10), and two colour maps.
ImU32 color(int index, float alpha = 1.0f);
ImU32 sequential(float t);  // t in [0, 1]: white to dark blue
ImU32 diverging(float t);   // t in [-1, 1]: orange, white, blue (TensorFlow Playground's)

// Line plot of `size` (width -1: all the space left).
void lines(const char* id, const Options& options, const std::vector<Series>& series, ImVec2 size);
// A w×h grid of values (row-major, row 0 on top) mapped by sequential() from
// [lo, hi]; returns the cell under the mouse, or -1.
int heatmap(const char* id, const float* values, int w, int h, float lo, float hi, ImVec2 size,
            ImU32 (*map)(float) = sequential);

}  // namespace pcplay::ui::plot
