// What the playground says under its curves when a run is not learning, and
// the one-click change it offers: a lane whose loss has been flat for a while,
// whose relaxation's energy keeps rising, or whose layer 1 receives a small
// share of backprop's signal. Read from the per-step history only, so the
// desktop, the page and its API (pcplay.metrics().guidance) say the same.
#pragma once

#include <string>
#include <vector>

#include "metrics.h"
#include "settings.h"

namespace pcplay::ui {

struct Remedy {
  std::string label;  // the button, e.g. "try eta = 0.01"
  Settings settings;  // what it applies
};

struct Guidance {
  size_t lane = 0;    // the lane it is about (settings.raced()'s order)
  std::string text;   // one line: what is happening, in numbers
  std::vector<Remedy> remedies;
};

// The steps a lane must have made before it is judged, and the window it is judged on.
constexpr size_t kGuidanceWindow = 200;

// At most one line per lane of `history` (one history per lane of s.raced()).
std::vector<Guidance> guidance(const Settings& s, const std::vector<std::vector<StepRecord>>& history);

}  // namespace pcplay::ui
