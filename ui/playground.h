// The playground: one function of the state, drawn every frame (Dear ImGui),
// shared by the desktop and browser shells. It owns a Run (training on its own
// thread) and draws the controls, the curves, the relaxation, the network and
// the outputs from the Run's latest snapshot.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "guidance.h"
#include "run.h"
#include "settings.h"

namespace pcplay::ui {

// Whether a data set can be read yet. A browser fetches the big ones after the
// page has started; until one has arrived the playground shows its progress.
struct DataAvailability {
  bool ready = true;
  double progress = 0;  // 0..1 while it downloads
  std::string error;    // the download failed
};

class Playground {
 public:
  // mode: a training thread, or (without threads) slices of each frame.
  Playground(Settings settings, std::string data_dir, std::string export_dir = ".", Run::Mode mode = Run::Mode::Thread);
  // Draws the whole UI into the current ImGui frame, filling the viewport.
  void frame();
  Run& run() { return *run_; }
  const Settings& settings() const { return settings_; }
  // Changes the settings as the controls do: live where it can, else a new run.
  void set_settings(const Settings& next) { apply(next); }
  // What the last frame showed: the run's snapshot, the per-step history of
  // each lane (settings().raced()'s order), and the guidance under the curves.
  const Snapshot& snapshot() const { return *snapshot_; }
  const std::vector<std::vector<StepRecord>>& history() const { return history_; }
  const std::vector<Guidance>& guidance() const { return guidance_; }
  // Not yet showing the latest settings: a data set downloads, or a change or
  // reset is still being carried out.
  bool settling() const { return waiting_.has_value() || !run_->settled(*snapshot_); }
  // Why the data set cannot be had (a failed download), or empty.
  std::string data_error() const { return waiting_ ? waiting_->error : ""; }
  // Play, or (while the data set still downloads) play once it is there.
  void play();
  void pause();
  // A new run from the same settings (and another try at a failed download).
  void reset();

  // The shell's hooks: where data sets come from (unset: all are local;
  // `retry`: try again after a failure), and what "settings link" copies
  // (unset: the query string).
  std::function<DataAvailability(const std::string& dataset, bool retry)> data_availability;
  std::function<void(const std::string& query)> share_link;
  // Problems found in the starting settings, shown until dismissed.
  std::vector<std::string> notices;

 private:
  void controls(const Snapshot& s, bool with_run_buttons = true);
  void run_buttons(const Snapshot& s, bool compact);
  void check_data();
  void model_editor(const Snapshot& s, Settings& next);
  void numbers(const Snapshot& s);
  void curves(const Snapshot& s);
  void guidance_lines();
  void race_controls(Settings& next);
  void relaxation(const Snapshot& s);
  void network(const Snapshot& s);
  void output(const Snapshot& s);
  void exports(const Snapshot& s);
  void apply(const Settings& next);
  std::string export_metrics_csv() const;
  std::string export_plots_svg() const;

  Settings settings_;
  std::string data_dir_, export_dir_;
  std::unique_ptr<Run> run_;
  std::vector<std::vector<StepRecord>> history_;  // per lane
  std::vector<Guidance> guidance_;
  uint64_t history_generation_ = ~uint64_t(0);
  std::shared_ptr<const Snapshot> snapshot_;
  float speed_ = 0;  // steps per second; 0 = as fast as it goes (a small net trains as fast as frames are drawn)
  std::string message_;
  char data_path_[512] = "";     // the own-data field
  char weights_path_[512] = "";  // the weights-import field
  int stop_at_ = 0;
  std::optional<DataAvailability> waiting_;  // the data set is downloading
  bool play_when_loaded_ = false;
  bool retry_data_ = false;  // a reset asks for another download after a failure
};

}  // namespace pcplay::ui
