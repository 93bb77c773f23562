// The per-step metrics: one record type, and the one place that names its
// columns. `pcplay train --metrics` and `reproduce` write them as CSV, the
// playground keeps them per step and exports the same CSV, and the web API's
// pcplay.metrics() returns the same names as JSON.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "diagnostics.h"
#include "pc_infer.h"

namespace pcplay {

struct Evaluation {
  double loss = 0, accuracy = 0;
};

// One training step, as the paper's experiments report it.
struct StepRecord {
  long step = 0;     // steps done, this one included (a diverged step is not done)
  double epoch = 0;  // epochs done (fractional)
  Evaluation train;  // this batch, before the update
  Evaluation test;   // one random test batch, after the update
  Evaluation bp_train, bp_test;              // the backprop twin, with compare_bp
  std::vector<GradientAgreement> agreement;  // per block, with compare_bp
  // Strict's energy rose above F(v̂) during inference: η is too large for the
  // current weights and this step's PC gradient is far from backprop's. It
  // happens in healthy runs too as weights grow, so the run goes on.
  bool energy_rose = false;
  int iterations = 0;  // inference iterations made (n, or fewer under the stopping rule)
  double seconds = 0;  // wall time of the step
};

// The columns of a run of `depth` blocks, each with its value in `r`:
//   step, epoch, train_loss, train_accuracy, test_loss, test_accuracy;
//   with the backprop comparison: bp_train_loss, bp_train_accuracy,
//   bp_test_loss, bp_test_accuracy, rel_error_1..L, angle_1..L;
//   then iterations, energy_rose (0 or 1) and seconds.
// A per-layer value `r` does not have is NaN.
std::vector<std::pair<std::string, double>> metrics_fields(const StepRecord& r, Index depth, bool compare_bp);

std::string metrics_csv_header(Index depth, bool compare_bp);
std::string metrics_csv_row(const StepRecord& r, Index depth, bool compare_bp);
// A number as the CSV files write it: the shortest text that reads back as
// the same number, as a float when it is one (a float32 run's losses), else
// as a double (a float64 run's, to the last bit).
std::string csv_number(double v);

}  // namespace pcplay
