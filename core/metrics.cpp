#include "metrics.h"

#include <cmath>
#include <limits>

#include "file_util.h"

namespace pcplay {

std::vector<std::pair<std::string, double>> metrics_fields(const StepRecord& r, Index depth, bool compare_bp) {
  std::vector<std::pair<std::string, double>> f = {{"step", static_cast<double>(r.step)},
                                                   {"epoch", r.epoch},
                                                   {"train_loss", r.train.loss},
                                                   {"train_accuracy", r.train.accuracy},
                                                   {"test_loss", r.test.loss},
                                                   {"test_accuracy", r.test.accuracy}};
  if (compare_bp) {
    f.insert(f.end(), {{"bp_train_loss", r.bp_train.loss},
                       {"bp_train_accuracy", r.bp_train.accuracy},
                       {"bp_test_loss", r.bp_test.loss},
                       {"bp_test_accuracy", r.bp_test.accuracy}});
    const double none = std::numeric_limits<double>::quiet_NaN();
    for (Index l = 1; l <= depth; ++l)
      f.emplace_back("rel_error_" + std::to_string(l), l <= Index(r.agreement.size()) ? r.agreement[l - 1].rel_error : none);
    for (Index l = 1; l <= depth; ++l)
      f.emplace_back("angle_" + std::to_string(l), l <= Index(r.agreement.size()) ? r.agreement[l - 1].angle_deg : none);
  }
  f.insert(f.end(), {{"iterations", static_cast<double>(r.iterations)},
                     {"energy_rose", r.energy_rose ? 1.0 : 0.0},
                     {"seconds", r.seconds}});
  return f;
}

std::string metrics_csv_header(Index depth, bool compare_bp) {
  std::string h;
  for (const auto& [name, value] : metrics_fields(StepRecord(), depth, compare_bp)) h += (h.empty() ? "" : ",") + name;
  return h + "\n";
}

std::string metrics_csv_row(const StepRecord& r, Index depth, bool compare_bp) {
  std::string row;
  for (const auto& [name, value] : metrics_fields(r, depth, compare_bp))
    row += (row.empty() ? "" : ",") + csv_number(value);
  return row + "\n";
}

std::string csv_number(double v) {
  const bool is_float = std::isfinite(v) && static_cast<double>(static_cast<float>(v)) == v;
  return shortest_text(v, is_float);
}

}  // namespace pcplay
