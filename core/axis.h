// Plot axes, shared by the SVG writer and the playground's plots: a range
// (linear or log), the map between data and pixels, "nice" ticks and labels.
#pragma once

#include <string>
#include <vector>

namespace pcplay {

struct Axis {
  double lo = 0, hi = 1;
  bool log_scale = false;
  // Data value -> position between `from` (at lo) and `to` (at hi), and back.
  double map(double v, double from, double to) const;
  double unmap(double position, double from, double to) const;
};

// Whether v can be drawn on the axis (finite, and positive on a log axis).
bool plottable(double v, bool log_scale);
// A readable axis around the data's extremes [lo, hi] (lo > hi: no data):
// whole decades on a log axis, whole ticks on a linear one, a span around
// flat data.
Axis fit_axis(double lo, double hi, bool log_scale);
// "Nice" tick positions covering [lo, hi]: 1, 2, 5 × 10^k steps, or decades.
std::vector<double> axis_ticks(double lo, double hi, bool log_scale);
std::string tick_label(double v);  // "0.2", "1e-04", "1.2e+05"

}  // namespace pcplay
