// The playground: one function of the state, drawn every frame (Dear ImGui),
// shared by the desktop and browser shells. It owns a Run (training on its own
// thread) and draws the controls, the curves, the relaxation, the network and
// the outputs from the Run's latest snapshot.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "run.h"
#include "settings.h"

namespace pcplay::ui {

class Playground {
 public:
  // mode: a training thread, or (without threads) slices of each frame.
  Playground(Settings settings, std::string data_dir, std::string export_dir = ".", Run::Mode mode = Run::Mode::Thread);
  // Draws the whole UI into the current ImGui frame, filling the viewport.
  void frame();
  Run& run() { return *run_; }
  const Settings& settings() const { return settings_; }
  // Problems found in the starting settings, shown until dismissed.
  std::vector<std::string> notices;

 private:
  void controls(const Snapshot& s);
  void model_editor(const Snapshot& s, Settings& next);
  void numbers(const Snapshot& s);
  void curves(const Snapshot& s);
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
  std::vector<StepRecord> history_;
  uint64_t history_generation_ = ~uint64_t(0);
  std::shared_ptr<const Snapshot> snapshot_;
  float speed_ = 30;  // steps per second; 0 = as fast as it goes
  std::string message_;
  char data_path_[512] = "";     // the own-data field
  char weights_path_[512] = "";  // the weights-import field
  int stop_at_ = 0;
};

}  // namespace pcplay::ui
