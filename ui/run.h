// A playground run: a Trainer beside the UI. The UI sends commands (play,
// pause, step at any level, apply settings, reset) and reads snapshots; it
// never waits for training. The work happens on a thread of its own, or, where
// there are no threads (a single-threaded browser build), in slices that the
// UI hands out each frame with tick(). Snapshots are immutable and shared; the per-step
// history is append-only between resets (its generation changes on a reset),
// so the UI copies only what is new.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "metrics.h"
#include "pc_infer.h"
#include "settings.h"
#include "tensor.h"
#include "views.h"

namespace pcplay::ui {

enum class StepLevel { Iteration, Relaxation, Update, Epoch };

// One algorithm of a run: a race trains up to kMaxRaced side by side.
struct LaneSnapshot {
  Racer racer;
  long step = 0;
  bool diverged = false;  // this lane stopped; the others go on
  std::string status;     // why it stopped
  // The relaxation under way, or the last one: stats per inference iteration.
  std::vector<SweepStats> sweeps;
  int relaxing = -1;  // iterations done in a step under way; -1 between steps
  std::shared_ptr<const std::vector<float>> boundary;  // 2-D data: P(class 1) on the snapshot's grid
  std::shared_ptr<const ImageViews> images;  // image data only
};

struct Snapshot {
  Settings settings;
  std::string status;  // what the run is doing, or why it stopped
  std::string notice;  // the outcome of the last save or live change
  bool loading = true, playing = false, busy = false, failed = false;
  bool diverged = false;  // every lane diverged: nothing left to train
  uint64_t commands_done = 0;  // how many of the commands sent had been carried out
  long step = 0;
  double epoch = 0;
  double steps_per_second = 0;                                             // the pace lately
  double samples_per_second = 0, ms_per_iteration = 0, ms_per_update = 0;  // compute rates

  // The model: per-sample shapes of v_0..v_L and one line per block.
  std::vector<Shape> shapes;
  std::vector<std::string> blocks;
  long parameters = 0;

  // Each algorithm trained (lanes[0] leads: the network view and the weights
  // are its), in the order of settings.raced().
  std::vector<LaneSnapshot> lanes;

  // Small dense nets: the weights of each linear layer ([out][in], row-major).
  std::vector<std::vector<float>> weights;
  std::vector<std::pair<int, int>> weight_shapes;  // (out, in)

  // 2-D data: the grid of each lane's boundary over [-extent, extent]², and (a
  // sample of) the points as x, y, label triples.
  bool two_d = false;
  int grid = 0;
  float extent = 1.4f;
  std::shared_ptr<const std::vector<float>> train_points, test_points;
};

class Run {
 public:
  enum class Mode { Thread, Sliced };
  Run(Settings settings, std::string data_dir, Mode mode = Mode::Thread);
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  // Sliced mode: does queued commands and training on the caller's thread for
  // about `budget_seconds` (call it once a frame). Does nothing in thread mode.
  void tick(double budget_seconds);

  void play();
  void pause();
  void step(StepLevel level, int count = 1);
  // A new run when the change needs one (data, model...), else applied live.
  // Calls made while an earlier one waits are merged into it.
  void apply(const Settings& settings);
  void reset();
  void set_speed(double steps_per_second);  // 0: as fast as it goes
  void choose_image(int index);
  // Writes the current weights (safetensors); the outcome is the snapshot's notice.
  void save_weights(const std::string& path);
  // Starts the run afresh from these weights (and so does the backprop twin).
  void load_weights(const std::string& path);
  // Pauses a playing run once it has done this many steps (0: never).
  void stop_at(long step);

  std::shared_ptr<const Snapshot> snapshot() const;
  // Whether every command sent before now is reflected in `s` (a snapshot of
  // this run): false while an apply or reset waits or runs.
  bool settled(const Snapshot& s) const { return s.commands_done >= commands_sent_; }
  // Brings `out` (one history per lane) up to date: appends what is new, or
  // starts over when `generation` (the caller's copy) is behind a reset.
  void update_history(std::vector<std::vector<StepRecord>>& out, uint64_t& generation) const;
  // For tests: how many steps the lead's history holds, and a wait until the worker
  // has nothing queued, no steps or epoch to reach, and is not playing (in
  // sliced mode it ticks until then). A front end never waits for the run.
  size_t history_size() const;
  void wait_idle();

 private:
  struct Worker;
  void enqueue(std::function<void(Worker&)> command);
  void append_history(size_t lane, StepRecord&& record);
  void clear_history(size_t lanes);
  void publish(Worker& w);
  bool interrupted() const;
  bool has_work() const;  // under mutex_
  bool work_once();
  void loop();

  std::unique_ptr<Worker> worker_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<std::function<void(Worker&)>> commands_;
  std::optional<Settings> pending_settings_;  // the newest settings not yet applied
  Settings latest_settings_;                  // the caller's newest settings (applied or not)
  std::atomic<uint64_t> commands_sent_{0};
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<std::vector<StepRecord>> history_;  // per lane
  uint64_t generation_ = 0;
  bool busy_ = false;
  std::atomic<bool> quit_{false}, playing_{false};
  std::atomic<int> queued_{0};
  std::atomic<double> speed_{0};
  std::atomic<int> chosen_{0};
  std::atomic<long> stop_at_{0};
  std::atomic<bool> pursuing_{false};  // steps or an epoch still to reach
  const Mode mode_;
  std::chrono::steady_clock::time_point deadline_;  // sliced mode: the end of this tick
  std::thread thread_;
};

}  // namespace pcplay::ui
