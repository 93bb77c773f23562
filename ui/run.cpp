#include "run.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "data_io.h"
#include "error.h"
#include "model_file.h"
#include "safetensors.h"
#include "trainer.h"
#include "views.h"

#if defined(__linux__) && !defined(__EMSCRIPTEN__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace pcplay::ui {

namespace {
using Clock = std::chrono::steady_clock;
constexpr size_t kMaxPoints = 2000;      // points drawn per split of 2-D data
constexpr size_t kMaxHistory = 20000;    // then older records are thinned
constexpr double kPublishSeconds = 0.05;
// While playing, the views that cost a forward pass over many points are
// renewed less often than snapshots are published: a single-threaded browser
// build pays for them out of its training slices.
constexpr double kBoundarySeconds = 0.2, kImagesSeconds = 0.5;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

// One algorithm of the run, with its own trainer; a race has several, all
// started from the same weights and fed the same batches (the same seed).
struct Lane {
  std::unique_ptr<Trainer<float>> trainer;  // its racer: the settings' raced(), at the lane's place
  double step_compute = 0, step_seconds = 0;  // this step's compute so far; a step's, smoothed
  std::vector<SweepStats> last_sweeps;
  std::string status;  // why it stopped
  // The views: renewed at most kBoundarySeconds (2-D) or kImagesSeconds apart while playing.
  std::shared_ptr<const std::vector<float>> boundary;
  std::shared_ptr<const ImageViews> images;
  ConfusionCache confusion;

  bool live() const { return trainer && !trainer->diverged(); }
};

struct Run::Worker {
  Run& run;
  Settings settings;
  std::string data_dir;
  std::vector<Lane> lanes;  // settings.raced(), in order
  std::string status = "loading", notice;
  uint64_t commands_done = 0;  // carried out, in the order sent
  bool failed = false;

  // The loaded data, kept while the data settings stay the same.
  std::string data_key;
  std::shared_ptr<const DataSplit> data;
  std::shared_ptr<const std::vector<float>> train_points, test_points;

  // Rates: compute time of the lead's updates and of every lane's inference
  // iterations, and when race steps finished.
  double update_seconds = 0, iteration_seconds = 0;
  long timed_iterations = 0;
  std::deque<Clock::time_point> recent_steps;
  Clock::time_point last_step = Clock::now(), last_publish, last_boundaries, last_images;

  // Steps or an epoch to reach (step(Update, k), step(Epoch)); -1: none.
  long target_steps = -1;
  double target_epoch = -1;

  explicit Worker(Run& r) : run(r) {}

  Trainer<float>* lead() { return lanes.empty() ? nullptr : lanes.front().trainer.get(); }

  // Builds data, models and trainers from the settings (starting from
  // `initial` weights when given: the lanes that train the lead's model start
  // from them, a μPC racer from its own); errors become the status.
  void build(const Model<float>* initial = nullptr) {
    lanes.clear();
    clear_targets();  // a new run has no steps to reach yet
    failed = false;
    notice.clear();
    update_seconds = iteration_seconds = 0;
    timed_iterations = 0;
    recent_steps.clear();
    const std::vector<Racer> raced = settings.raced();
    run.clear_history(raced.size());
    try {
      const std::string key = settings.dataset + "|" + std::to_string(settings.noise) + "|" +
                              std::to_string(settings.ratio) + "|" + std::to_string(settings.seed);
      if (key != data_key || !data) {
        DataOptions options;
        options.data_dir = data_dir;
        options.noise = settings.noise;
        options.train_ratio = settings.ratio;
        options.seed = settings.seed;
        data.reset();
        auto loaded = std::make_shared<DataSplit>(load_data(settings.dataset, options));
        data = loaded;
        data_key = key;
        if (data->train.sample_shape == Shape{2}) {
          train_points = point_sample(data->train, kMaxPoints);
          test_points = point_sample(data->test, kMaxPoints);
        }
      }
      const Shape& shape = data->train.sample_shape;
      const std::string lead_model = racer_model(settings.model, raced.front());
      for (const Racer& racer : raced) {
        const std::string model = racer_model(settings.model, racer);
        ModelSpec spec = model_for_data(model, shape, data->train.num_classes);
        spec.loss = settings.loss;
        TrainConfig config;
        config.err = racer.err;
        config.eta = settings.eta;
        config.n = settings.n;
        config.tol = settings.tol;
        config.optimizer.kind = settings.optimizer;
        config.optimizer.lr = settings.lr;
        config.batch = settings.batch;
        config.seed = settings.seed;  // the same initial weights and batches in every lane
        config.compare_bp = settings.compare_bp;
        // With a thread of its own, the run also splits each step across the
        // machine's other threads; in slices of the UI's frames it has only the one.
        config.threads = run.mode_ == Mode::Sliced ? 1 : 0;
        Lane lane;
        lane.trainer = std::make_unique<Trainer<float>>(spec, data, config, model == lead_model ? initial : nullptr);
        lanes.push_back(std::move(lane));
      }
      status = "ready";
    } catch (const std::exception& e) {
      lanes.clear();
      status = e.what();
      failed = true;
    }
  }

  // Nothing left to train: no lanes, or every one diverged.
  bool diverged() const {
    return std::none_of(lanes.begin(), lanes.end(), [](const Lane& l) { return l.live(); });
  }

  template <typename F>
  auto timed(double& seconds, F f) {
    const auto t0 = Clock::now();
    auto result = f();
    seconds += seconds_since(t0);
    return result;
  }

  void begin(Lane& lane) {
    lane.step_compute = 0;
    timed(lane.step_compute, [&] {
      lane.trainer->begin_step();
      return 0;
    });
  }

  bool relax(Lane& lane, int k) {
    Trainer<float>& t = *lane.trainer;
    const int before = t.relaxation()->iterations();
    double spent = 0;
    const bool done = timed(spent, [&] { return t.relax(k); });
    lane.step_compute += spent;
    if (t.relaxation()->iterations() > before) {
      iteration_seconds += spent;
      timed_iterations += t.relaxation()->iterations() - before;
    }
    return done;
  }

  void finish(size_t index) {
    Lane& lane = lanes[index];
    double spent = 0;
    StepMetrics m = timed(spent, [&] { return lane.trainer->finish_step(); });
    lane.step_compute += spent;
    if (index == 0) update_seconds = update_seconds > 0 ? 0.8 * update_seconds + 0.2 * spent : spent;
    lane.step_seconds = lane.step_seconds > 0 ? 0.8 * lane.step_seconds + 0.2 * lane.step_compute : lane.step_compute;
    lane.last_sweeps = m.sweeps;
    if (m.diverged) {
      lane.status = m.divergence;
      return;
    }
    if (index + 1 == lanes.size() || std::none_of(lanes.begin() + index + 1, lanes.end(), [](const Lane& l) { return l.live(); })) {
      last_step = Clock::now();  // a step of the whole race
      recent_steps.push_back(last_step);
      while (recent_steps.size() > 2 && seconds_since(recent_steps.front()) > 2.0) recent_steps.pop_front();
    }
    run.append_history(index, std::move(static_cast<StepRecord&>(m)));
  }

  // Steps made by the lanes still training (they keep in step).
  long steps_behind() const {
    long behind = -1;
    for (const Lane& l : lanes)
      if (l.live()) behind = behind < 0 ? l.trainer->steps() : std::min(behind, l.trainer->steps());
    return behind;
  }

  // One iteration or the rest of the relaxation (finishing the step when
  // there is nothing left to relax), or one whole update. Returns early when
  // interrupted (quitting, a command waiting, the end of a slice); a step left
  // under way goes on next time.
  void advance(size_t index, StepLevel level) {
    Lane& lane = lanes[index];
    Trainer<float>& t = *lane.trainer;
    if (!t.relaxation()) begin(lane);
    if (level == StepLevel::Update) {
      while (!relax(lane, 1))
        if (run.interrupted()) return;
      finish(index);
    } else if (t.relaxed()) {  // also a relaxation stopped at a non-finite value, and Exact
      finish(index);
    } else if (level == StepLevel::Iteration) {
      relax(lane, 1);
    } else {
      while (!relax(lane, 1) && !run.interrupted()) {
      }
    }
  }

  // The same for every lane: a lane that has made the race's step waits for
  // the others, so that the lanes stay on the same batch.
  void advance(StepLevel level) {
    const long behind = steps_behind();
    for (size_t i = 0; i < lanes.size(); ++i) {
      const Lane& lane = lanes[i];
      if (!lane.live() || (lane.trainer->steps() > behind && !lane.trainer->relaxation())) continue;
      advance(i, level);
      if (level == StepLevel::Update && run.interrupted()) return;
    }
  }

  bool pursuing() const { return target_steps >= 0 || target_epoch >= 0; }
  void clear_targets() {
    target_steps = -1;
    target_epoch = -1;
  }

  // Clears the targets that are reached (or can no longer be).
  void check_targets() {
    if (diverged()) {
      clear_targets();
      return;
    }
    bool between_steps = true;
    for (const Lane& l : lanes) between_steps &= !(l.live() && l.trainer->relaxation());
    const long steps = steps_behind();
    double epoch = 0;
    for (const Lane& l : lanes)
      if (l.live() && l.trainer->steps() == steps) epoch = l.trainer->epoch();
    if (target_steps >= 0 && between_steps && steps >= target_steps) target_steps = -1;
    if (target_epoch >= 0 && between_steps && epoch >= target_epoch - 1e-9) target_epoch = -1;
  }

  std::shared_ptr<const Snapshot> make_snapshot(bool playing, bool busy) {
    auto s = std::make_shared<Snapshot>();
    s->settings = settings;
    s->status = status;
    s->notice = notice;
    s->failed = failed;
    s->playing = playing;
    s->busy = busy;
    s->loading = false;
    s->commands_done = commands_done;
    if (lanes.empty()) return s;
    Trainer<float>& t = *lead();
    Model<float>& model = t.model();
    s->diverged = diverged();
    if (s->diverged) s->status = lanes.front().status;
    s->step = std::max(0L, steps_behind());
    if (s->diverged) s->step = t.steps();
    s->epoch = t.epoch();
    if (recent_steps.size() > 1 && seconds_since(recent_steps.back()) < 1.0)
      s->steps_per_second = (recent_steps.size() - 1) /
                            std::chrono::duration<double>(recent_steps.back() - recent_steps.front()).count();
    double race_step = 0;  // the compute of one step of every lane
    for (const Lane& l : lanes) race_step += l.step_seconds;
    s->samples_per_second = race_step > 0 ? t.config().batch / race_step : 0;
    s->ms_per_iteration = timed_iterations ? 1000 * iteration_seconds / timed_iterations : 0;
    s->ms_per_update = 1000 * update_seconds;
    for (Index l = 0; l <= model.depth(); ++l) s->shapes.push_back(model.shape_at(l));
    for (const BlockSpec& block : model.spec().blocks) {
      std::string line;
      for (const LayerSpec& ls : block) line += (line.empty() ? "" : "+") + ls.type;
      s->blocks.push_back(block.residual ? "z + (" + line + ")" : line);
    }
    s->parameters = static_cast<long>(model.num_parameters());
    if (model.num_parameters() <= 5000)
      for (const NamedParam<float>& p : model.parameters())
        if (p.param->value.rank() == 2) {
          s->weights.emplace_back(p.param->value.data(), p.param->value.data() + p.param->value.size());
          s->weight_shapes.emplace_back(static_cast<int>(p.param->value.shape()[0]),
                                        static_cast<int>(p.param->value.shape()[1]));
        }
    s->two_d = data->train.sample_shape == Shape{2};
    if (s->two_d) {
      s->grid = kBoundaryGrid;
      s->train_points = train_points;
      s->test_points = test_points;
    }
    const bool renew_boundaries = !playing || seconds_since(last_boundaries) > kBoundarySeconds;
    const bool renew_images = !playing || seconds_since(last_images) > kImagesSeconds;
    if (renew_boundaries) last_boundaries = Clock::now();
    if (renew_images) last_images = Clock::now();
    const std::vector<Racer> raced = settings.raced();
    for (size_t i = 0; i < lanes.size(); ++i) {
      Lane& lane = lanes[i];
      Trainer<float>& lt = *lane.trainer;
      LaneSnapshot ls;
      ls.racer = raced.at(i);
      ls.step = lt.steps();
      ls.diverged = lt.diverged();
      ls.status = lane.status;
      if (const PCInference<float>* r = lt.relaxation()) {
        ls.relaxing = r->iterations();
        ls.sweeps = lt.relaxation_stats();
      } else {
        ls.sweeps = lane.last_sweeps;
      }
      if (s->two_d) {
        if (renew_boundaries || !lane.boundary)
          lane.boundary = std::make_shared<const std::vector<float>>(decision_boundary(lt.model(), kBoundaryGrid, s->extent));
        ls.boundary = lane.boundary;
      } else if (data->train.sample_shape.size() == 3) {
        if (renew_images || !lane.images) {
          const TrainConfig& c = lt.config();
          lane.images = image_views(lt.model(), data->test, run.chosen_.load(), c.err, static_cast<float>(c.eta), c.n,
                                    lane.confusion);
        }
        ls.images = lane.images;
      }
      s->lanes.push_back(std::move(ls));
    }
    return s;
  }
};

Run::Run(Settings settings, std::string data_dir, Mode mode) : worker_(std::make_unique<Worker>(*this)), mode_(mode) {
  latest_settings_ = settings;
  worker_->settings = std::move(settings);
  worker_->data_dir = std::move(data_dir);
  auto s = std::make_shared<Snapshot>();
  s->settings = worker_->settings;
  s->status = "loading " + worker_->settings.dataset + "...";
  snapshot_ = s;
  busy_ = true;
  commands_.push_back([](Worker& w) { w.build(); });
  queued_ = 1;
  commands_sent_ = 1;
  if (mode_ == Mode::Thread) thread_ = std::thread([this] { loop(); });
}

Run::~Run() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
    playing_ = false;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();  // long work checks quit_ between iterations, so this is quick
}

void Run::enqueue(std::function<void(Worker&)> command) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back(std::move(command));
    ++queued_;
    ++commands_sent_;
  }
  changed_.notify_all();
}

bool Run::interrupted() const {
  return quit_ || queued_ > 0 || (mode_ == Mode::Sliced && std::chrono::steady_clock::now() > deadline_);
}

bool Run::has_work() const { return !commands_.empty() || playing_ || pursuing_; }

void Run::append_history(size_t lane, StepRecord&& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<StepRecord>& history = history_.at(lane);
  history.push_back(std::move(record));
  if (history.size() > kMaxHistory) {  // keep every other record of the older half
    std::vector<StepRecord> thinned;
    const size_t half = history.size() / 2;
    for (size_t i = 0; i < history.size(); ++i)
      if (i >= half || i % 2 == 0) thinned.push_back(std::move(history[i]));
    history = std::move(thinned);
    ++generation_;
  }
}

void Run::clear_history(size_t lanes) {
  std::lock_guard<std::mutex> lock(mutex_);
  history_.assign(lanes, {});
  ++generation_;
}

void Run::publish(Worker& w) {
  std::shared_ptr<const Snapshot> s;
  try {
    s = w.make_snapshot(playing_ || w.pursuing(), queued_ > 0 || w.pursuing());
  } catch (const std::exception& e) {
    w.status = std::string("stopped: ") + e.what();
    w.failed = true;
    playing_ = false;
    return;
  }
  w.last_publish = Clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot_ = std::move(s);
}

void Run::play() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    playing_ = true;
  }
  changed_.notify_all();
}

void Run::pause() {
  playing_ = false;
  enqueue([](Worker& w) {  // also gives up steps or an epoch still to reach
    w.clear_targets();
  });
}

void Run::step(StepLevel level, int count) {
  playing_ = false;
  enqueue([this, level, count](Worker& w) {
    if (w.diverged()) return;
    if (level == StepLevel::Update) {  // targets, pursued like play (and resumed after an interruption)
      w.target_steps = w.steps_behind() + count;
    } else if (level == StepLevel::Epoch) {
      w.target_epoch = std::floor(w.lead()->epoch() + 1e-9) + count;
    } else {
      for (int i = 0; i < count && !quit_; ++i) w.advance(level);
    }
    pursuing_ = w.pursuing();
  });
}

void Run::apply(const Settings& settings) {
  bool queue;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue = !pending_settings_;
    pending_settings_ = settings;
    // A change that starts a new run stops playing now, not when the worker
    // gets to it: a play() sent after this apply must not be undone by it.
    if (settings.needs_reset_from(latest_settings_)) playing_ = false;
    latest_settings_ = settings;
  }
  if (!queue) return;  // merged into the apply that waits
  enqueue([this](Worker& w) {
    Settings next;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      next = *pending_settings_;
      pending_settings_.reset();
    }
    const bool new_run = next.needs_reset_from(w.settings) || w.lanes.empty();
    w.settings = next;
    if (new_run) {
      w.build();
      return;
    }
    try {
      const std::vector<Racer> raced = next.raced();  // the same list, or a lone run's new error type
      for (size_t i = 0; i < w.lanes.size(); ++i) {
        w.lanes[i].trainer->set_learning_rate(next.lr);
        w.lanes[i].trainer->set_inference(raced.at(i).err, next.eta, next.n, next.tol);
      }
      w.notice.clear();
    } catch (const std::exception& e) {
      w.notice = e.what();
    }
  });
}

void Run::reset() {
  playing_ = false;
  enqueue([](Worker& w) { w.build(); });
}

void Run::set_speed(double steps_per_second) { speed_ = std::max(0.0, steps_per_second); }

void Run::choose_image(int index) {
  chosen_ = index;
  enqueue([](Worker& w) {  // renew the views now
    for (Lane& lane : w.lanes) lane.images.reset();
  });
}

void Run::save_weights(const std::string& path) {
  enqueue([path](Worker& w) {
    if (!w.lead()) return;
    try {
      TensorFile file;
      store_parameters(w.lead()->model(), file);
      write_safetensors(path, file);
      w.notice = "saved the weights to " + path;
    } catch (const std::exception& e) {
      w.notice = e.what();
    }
  });
}

void Run::load_weights(const std::string& path) {
  playing_ = false;
  enqueue([path](Worker& w) {
    if (!w.lead()) return;
    try {
      Model<float> initial(w.lead()->model().spec());
      load_parameters(initial, read_safetensors(path));
      w.build(&initial);
      w.notice = "started from the weights in " + path;
    } catch (const std::exception& e) {
      w.notice = e.what();
    }
  });
}

void Run::stop_at(long step) { stop_at_ = std::max(0L, step); }

std::shared_ptr<const Snapshot> Run::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return snapshot_;
}

void Run::update_history(std::vector<std::vector<StepRecord>>& out, uint64_t& generation) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (generation != generation_ || out.size() != history_.size()) {
    out.assign(history_.size(), {});
    generation = generation_;
  }
  for (size_t lane = 0; lane < history_.size(); ++lane)
    out[lane].insert(out[lane].end(), history_[lane].begin() + static_cast<std::ptrdiff_t>(out[lane].size()),
                     history_[lane].end());
}

size_t Run::history_size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return history_.empty() ? 0 : history_.front().size();
}

void Run::wait_idle() {
  if (mode_ == Mode::Sliced) {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!has_work()) return;
      }
      tick(0.05);
    }
  }
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !has_work() && !busy_; });
}

void Run::tick(double budget_seconds) {
  if (mode_ != Mode::Sliced) return;
  deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                      std::chrono::duration<double>(budget_seconds));
  do {
    if (!work_once()) return;
  } while (std::chrono::steady_clock::now() < deadline_);
}

void Run::loop() {
#if defined(__linux__) && !defined(__EMSCRIPTEN__)
  // Training yields to drawing: on busy cores the UI thread (and the GL
  // driver's) run first. Linux's nice is per thread, and the trainers' thread
  // pools, made on this thread, inherit it.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);  // if refused, training only competes harder
#endif
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      busy_ = false;
      changed_.notify_all();
      changed_.wait(lock, [&] { return quit_ || has_work(); });
      if (quit_) return;
      busy_ = true;
    }
    work_once();
  }
}

// One command, or one slice of playing or pursuing a target; then a snapshot
// (after a command, and at most every kPublishSeconds while working). False
// when there was nothing to do now.
bool Run::work_once() {
  Worker& w = *worker_;
  std::function<void(Worker&)> command;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!commands_.empty()) {
      command = std::move(commands_.front());
      commands_.pop_front();
      --queued_;
    }
  }
  if (!command && !playing_ && !w.pursuing()) return false;
  try {
    if (command) {
      command(w);
    } else if (w.diverged()) {
      playing_ = false;  // nothing to play
      w.check_targets();
    } else {
      const double speed = speed_;
      const double wait = playing_ && !w.pursuing() && speed > 0 ? 1.0 / speed - seconds_since(w.last_step) : 0;
      if (wait > 0) {  // the speed limit
        if (mode_ == Mode::Sliced) return false;
        std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, 0.02)));
      } else {
        w.advance(StepLevel::Update);
        w.check_targets();
      }
    }
  } catch (const std::exception& e) {
    playing_ = false;
    w.clear_targets();
    w.status = std::string("stopped: ") + e.what();
    w.failed = true;
  }
  if (command) ++w.commands_done;  // done, or failed and reported
  if (w.diverged()) playing_ = false;
  if (playing_ && stop_at_ > 0 && !w.diverged() && w.steps_behind() >= stop_at_ && !w.lead()->relaxation())
    playing_ = false;  // the stop condition
  pursuing_ = w.pursuing();
  if (command || !(playing_ || pursuing_) || seconds_since(w.last_publish) > kPublishSeconds) publish(w);
  return true;
}

}  // namespace pcplay::ui
