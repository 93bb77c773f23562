// Plot axes, shared by the SVG writer and the playground's plots: a range
// (linear or log), the map between data and pixels, "nice" ticks and labels.
#pragma once

#include <limits>
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
// "Nice" tick positions covering [lo, hi]: 1, 2, 5 × 10^k steps, or decades;
// about `intervals` of them (fewer on a small plot, so labels do not collide).
std::vector<double> axis_ticks(double lo, double hi, bool log_scale, int intervals = 6);
std::string tick_label(double v);  // "0.2", "1e-04", "1.2e+05"

// fit_axis around one coordinate (x or y) of every plottable point of a list
// of series (anything with vectors x and y).
template <typename SeriesList>
Axis fit_axis_to(const SeriesList& series, bool use_x, bool log_scale) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double v = use_x ? s.x[i] : s.y[i];
      if (plottable(s.x[i], false) && plottable(s.y[i], false) && plottable(v, log_scale)) {
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
      }
    }
  return fit_axis(lo, hi, log_scale);
}

}  // namespace pcplay
