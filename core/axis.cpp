#include "axis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pcplay {

namespace {
double coordinate(double v, bool log_scale) { return log_scale ? std::log10(v) : v; }
}  // namespace

double Axis::map(double v, double from, double to) const {
  const double a = coordinate(lo, log_scale), b = coordinate(hi, log_scale);
  if (!(b > a)) return (from + to) / 2;
  return from + (coordinate(v, log_scale) - a) / (b - a) * (to - from);
}

double Axis::unmap(double position, double from, double to) const {
  const double a = coordinate(lo, log_scale), b = coordinate(hi, log_scale);
  const double v = a + (position - from) / (to - from) * (b - a);
  return log_scale ? std::pow(10.0, v) : v;
}

bool plottable(double v, bool log_scale) { return std::isfinite(v) && (!log_scale || v > 0); }

Axis fit_axis(double lo, double hi, bool log_scale) {
  if (!(lo <= hi)) return {log_scale ? 0.1 : 0.0, log_scale ? 10.0 : 1.0, log_scale};
  if (log_scale) {
    lo = std::pow(10, std::floor(std::log10(lo)));
    hi = std::pow(10, std::ceil(std::log10(hi)));
    if (lo == hi) hi = lo * 10;
  } else if (!(hi - lo > 1e-9 * std::max(std::abs(lo), std::abs(hi)))) {  // flat: widen relative to the value
    const double half = std::max(0.5 * std::abs(lo), 0.5);
    lo -= half;
    hi += half;
  } else {  // out to whole ticks
    const auto t = axis_ticks(lo, hi, false);
    const double step = t.size() > 1 ? t[1] - t[0] : hi - lo;
    lo = std::floor(lo / step + 1e-9) * step;
    hi = std::ceil(hi / step - 1e-9) * step;
  }
  return {lo, hi, log_scale};
}

std::vector<double> axis_ticks(double lo, double hi, bool log_scale, int intervals) {
  intervals = std::max(1, intervals);
  std::vector<double> ticks;
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  if (log_scale) {
    if (lo <= 0) return ticks;
    const int a = static_cast<int>(std::ceil(std::log10(lo) - 1e-9)), b = static_cast<int>(std::floor(std::log10(hi) + 1e-9));
    const int every = std::max(1, (b - a + 1) / (intervals + 1));  // at most about intervals + 1 labels
    for (int e = a; e <= b; e += every) ticks.push_back(std::pow(10.0, e));
    return ticks;
  }
  const double raw = (hi - lo) / intervals, magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  // Ticks by index, not by accumulation: a step below the values' resolution
  // then yields a few repeated ticks instead of an endless loop.
  const double first = std::ceil(lo / step - 1e-9);
  for (int k = 0; k <= 12; ++k) {
    const double t = (first + k) * step;
    if (t > hi + step * 1e-9) break;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string tick_label(double v) {
  char buf[32];
  if (v != 0 && (std::abs(v) < 1e-3 || std::abs(v) >= 1e5))
    std::snprintf(buf, sizeof buf, "%.3g", v);
  else
    std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace pcplay
