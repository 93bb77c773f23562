#include "run.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "data_io.h"
#include "error.h"
#include "model_file.h"
#include "safetensors.h"
#include "trainer.h"

namespace pcplay::ui {

namespace {
using Clock = std::chrono::steady_clock;
constexpr int kGrid = 64;          // decision-boundary resolution
constexpr int kSampleImages = 16;  // test images shown with their predictions
constexpr Index kConfusionImages = 2000;
constexpr double kPublishSeconds = 0.05;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// An image-shaped view of one sample's activation-sized tensor: [C, H, W]
// averages |·| over channels; a flat vector becomes a near-square tile.
LayerMap layer_map(const std::string& title, const Tensor<float>& t, Index sample, const Shape& shape) {
  LayerMap m;
  m.title = title;
  const Index per = shape_numel(shape);
  const float* x = t.data() + sample * per;
  if (shape.size() == 3) {
    m.width = static_cast<int>(shape[2]);
    m.height = static_cast<int>(shape[1]);
    m.values.assign(static_cast<size_t>(m.width * m.height), 0.0f);
    for (Index c = 0; c < shape[0]; ++c)
      for (Index i = 0; i < shape[1] * shape[2]; ++i) m.values[i] += std::abs(x[c * shape[1] * shape[2] + i]) / shape[0];
  } else {
    m.width = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(per))));
    m.height = static_cast<int>((per + m.width - 1) / m.width);
    m.values.assign(static_cast<size_t>(m.width * m.height), 0.0f);
    for (Index i = 0; i < per; ++i) m.values[i] = std::abs(x[i]);
  }
  return m;
}
}  // namespace

struct Run::Worker {
  Settings settings;
  std::string data_dir;
  std::unique_ptr<Trainer<float>> trainer;
  std::string status = "loading";
  bool failed = false;
  double speed = 0;  // steps per second; 0 = unlimited
  int chosen = 0;
  Clock::time_point last_step = Clock::now(), last_publish;
  double iteration_seconds = 0, update_seconds = 0, step_seconds = 0;
  long timed_iterations = 0;
  std::vector<SweepStats> last_sweeps;
  std::deque<Clock::time_point> recent_steps;  // when the last steps finished
  Clock::time_point last_confusion;
  std::vector<int> confusion;

  // Builds data, model and trainer from the settings; errors become the status.
  void build() {
    trainer.reset();
    recent_steps.clear();
    failed = false;
    last_sweeps.clear();
    confusion.clear();
    try {
      DataOptions options;
      options.data_dir = data_dir;
      options.toy = {settings.dataset, 500, settings.noise, settings.ratio, settings.seed};
      options.seed = settings.seed;
      DataSplit data = load_data(settings.dataset, options);
      const Shape& shape = data.train.sample_shape;
      ModelSpec spec = settings.model == "default"   ? default_model_for(shape, data.train.num_classes)
                       : is_dense_name(settings.model) ? dense_model(settings.model, shape, data.train.num_classes)
                                                       : model_preset(settings.model);
      spec.loss = parse_loss(settings.loss);
      TrainConfig config;
      config.err = parse_err_type(settings.err);
      config.eta = settings.eta;
      config.n = settings.n;
      config.optimizer.name = settings.optimizer;
      config.optimizer.lr = settings.lr;
      config.batch = settings.batch;
      config.seed = settings.seed;
      config.compare_bp = settings.compare_bp;
      trainer = std::make_unique<Trainer<float>>(spec, std::move(data), config);
      status = "ready";
    } catch (const std::exception& e) {
      status = e.what();
      failed = true;
    }
  }

  bool diverged() const { return trainer && trainer->diverged(); }

  // Advances the run by `level`; returns the records of the steps it finished.
  std::vector<StepRecord> advance(StepLevel level, const std::atomic<bool>& playing, bool from_play) {
    std::vector<StepRecord> done;
    if (!trainer || diverged()) return done;
    const int n = trainer->config().err == ErrType::Exact ? 0 : trainer->config().n;
    auto relax = [&](int k) {
      const auto t0 = Clock::now();
      const int before = trainer->relaxation()->iterations();
      const bool finished = trainer->relax(k);
      const int ran = trainer->relaxation()->iterations() - before;
      if (ran > 0) {
        iteration_seconds += seconds_since(t0);
        timed_iterations += ran;
      }
      return finished;
    };
    auto finish = [&] {
      const auto t0 = Clock::now();
      StepMetrics m = trainer->finish_step();
      update_seconds = 0.8 * update_seconds + 0.2 * seconds_since(t0);
      step_seconds = 0.8 * step_seconds + 0.2 * m.seconds;
      last_sweeps = m.sweeps;
      if (m.diverged) {
        status = m.divergence;
        return;
      }
      recent_steps.push_back(Clock::now());
      while (recent_steps.size() > 1 && seconds_since(recent_steps.front()) > 2.0) recent_steps.pop_front();
      StepRecord r;
      r.step = m.step;
      r.epoch = m.epoch;
      r.train_loss = static_cast<float>(m.train.loss);
      r.train_accuracy = static_cast<float>(m.train.accuracy);
      r.test_loss = static_cast<float>(m.test.loss);
      r.test_accuracy = static_cast<float>(m.test.accuracy);
      r.bp_train_loss = static_cast<float>(m.bp_train.loss);
      r.bp_train_accuracy = static_cast<float>(m.bp_train.accuracy);
      r.bp_test_loss = static_cast<float>(m.bp_test.loss);
      r.bp_test_accuracy = static_cast<float>(m.bp_test.accuracy);
      for (const auto& a : m.agreement) {
        r.rel_error.push_back(static_cast<float>(a.rel_error));
        r.angle.push_back(static_cast<float>(a.angle_deg));
      }
      r.energy_rose = m.energy_rose;
      r.seconds = static_cast<float>(m.seconds);
      done.push_back(r);
    };
    const bool under_way = trainer->relaxation() != nullptr;
    switch (level) {
      case StepLevel::Iteration:
        if (!under_way) trainer->begin_step();
        if (n == 0 || trainer->relaxation()->iterations() >= n) finish();
        else relax(1);
        break;
      case StepLevel::Relaxation:
        if (!under_way) trainer->begin_step();
        if (n == 0 || trainer->relaxation()->iterations() >= n) finish();
        else relax(n);
        break;
      case StepLevel::Update:
        if (!under_way) trainer->begin_step();
        // While playing, relax in small slices so that a pause is heard at once.
        while (!relax(from_play ? 1 : n))
          if (from_play && !playing) return done;
        finish();
        break;
      case StepLevel::Epoch: {
        const double start = std::floor(trainer->epoch() + 1e-9);
        do {
          auto more = advance(StepLevel::Update, playing, false);
          done.insert(done.end(), more.begin(), more.end());
        } while (!diverged() && std::floor(trainer->epoch() + 1e-9) <= start);
        break;
      }
    }
    last_step = Clock::now();
    return done;
  }

  std::shared_ptr<const Snapshot> make_snapshot(bool playing) {
    auto s = std::make_shared<Snapshot>();
    s->settings = settings;
    s->status = status;
    s->failed = failed;
    s->playing = playing;
    s->loading = false;
    if (!trainer) return s;
    Trainer<float>& t = *trainer;
    Model<float>& model = t.model();
    s->diverged = t.diverged();
    s->step = t.steps();
    s->epoch = t.epoch();
    s->n = t.config().err == ErrType::Exact ? 0 : t.config().n;
    if (recent_steps.size() > 1 && seconds_since(recent_steps.back()) < 1.0)
      s->steps_per_second = (recent_steps.size() - 1) /
                            std::chrono::duration<double>(recent_steps.back() - recent_steps.front()).count();
    s->samples_per_second = step_seconds > 0 ? t.config().batch / step_seconds : 0;
    s->ms_per_iteration = timed_iterations ? 1000 * iteration_seconds / timed_iterations : 0;
    s->ms_per_update = 1000 * update_seconds;
    for (Index l = 0; l <= model.depth(); ++l) s->shapes.push_back(model.shape_at(l));
    for (const auto& block : model.spec().blocks) {
      std::string line;
      for (const LayerSpec& ls : block) line += (line.empty() ? "" : "+") + ls.type;
      s->blocks.push_back(line);
    }
    s->parameters = static_cast<long>(model.num_parameters());
    if (const PCInference<float>* r = t.relaxation()) {
      s->relaxing = r->iterations();
      s->sweeps = t.relaxation_stats();
    } else {
      s->sweeps = last_sweeps;
    }
    const auto params = model.parameters();
    if (model.num_parameters() <= 5000)
      for (const NamedParam<float>& p : params)
        if (p.param->value.rank() == 2) {
          s->weights.emplace_back(p.param->value.data(), p.param->value.data() + p.param->value.size());
          s->weight_shapes.emplace_back(static_cast<int>(p.param->value.shape()[0]),
                                        static_cast<int>(p.param->value.shape()[1]));
        }
    const DataSplit& data = t.data();
    s->two_d = data.train.sample_shape == Shape{2};
    if (s->two_d) {
      add_boundary(*s, model, data);
    } else if (data.train.sample_shape.size() == 3) {
      // The image views cost forward passes: renewed twice a second while playing.
      if (!playing || !images || seconds_since(last_images) > 0.5) {
        auto views = std::make_shared<Snapshot>();
        add_images(*views, model, data);
        images = views;
        last_images = Clock::now();
      }
      copy_image_views(*images, *s);
    }
    return s;
  }

  std::shared_ptr<const Snapshot> images;  // the last image views
  Clock::time_point last_images;

  static void copy_image_views(const Snapshot& from, Snapshot& to) {
    to.image_w = from.image_w;
    to.image_h = from.image_h;
    to.classes = from.classes;
    to.images = from.images;
    to.labels = from.labels;
    to.predictions = from.predictions;
    to.confusion = from.confusion;
    to.chosen = from.chosen;
    to.eps_maps = from.eps_maps;
    to.grad_maps = from.grad_maps;
  }

  void add_boundary(Snapshot& s, const Model<float>& model, const DataSplit& data) {
    s.grid = kGrid;
    Tensor<float> x({kGrid * kGrid, 2});
    for (int i = 0; i < kGrid; ++i)
      for (int j = 0; j < kGrid; ++j) {
        x[2 * (i * kGrid + j)] = -s.extent + 2 * s.extent * (j + 0.5f) / kGrid;
        x[2 * (i * kGrid + j) + 1] = s.extent - 2 * s.extent * (i + 0.5f) / kGrid;
      }
    const Tensor<float> y = model.predict(x);
    s.boundary.resize(kGrid * kGrid);
    for (Index k = 0; k < kGrid * kGrid; ++k) {  // P(class 1): softmax over two logits
      const float a = y.matrix()(k, 0), b = y.matrix().cols() > 1 ? y.matrix()(k, 1) : 0.0f;
      s.boundary[k] = 1.0f / (1.0f + std::exp(a - b));
    }
    for (const auto* part : {&data.train, &data.test}) {
      auto& out = part == &data.train ? s.train_points : s.test_points;
      for (Index i = 0; i < part->size(); ++i) {
        out.push_back(part->x[2 * i]);
        out.push_back(part->x[2 * i + 1]);
        out.push_back(static_cast<float>(part->labels[i]));
      }
    }
  }

  void add_images(Snapshot& s, Model<float>& model, const DataSplit& data) {
    const Dataset& test = data.test;
    s.image_h = static_cast<int>(test.sample_shape[1]);
    s.image_w = static_cast<int>(test.sample_shape[2]);
    s.classes = static_cast<int>(model.output_shape()[0]);
    const Index per = shape_numel(test.sample_shape);
    std::vector<Index> idx;
    for (Index i = 0; i < std::min<Index>(kSampleImages, test.size()); ++i) idx.push_back(i);
    Tensor<float> x;
    std::vector<int64_t> labels;
    gather_batch(test, idx.data(), static_cast<Index>(idx.size()), x, labels);
    const Tensor<float> y = model.predict(x);
    for (size_t k = 0; k < idx.size(); ++k) {
      Index best;
      y.matrix().row(k).maxCoeff(&best);
      s.predictions.push_back(static_cast<int>(best));
      s.labels.push_back(static_cast<int>(labels[k]));
      const float* first_channel = x.data() + k * per;
      s.images.insert(s.images.end(), first_channel, first_channel + s.image_w * s.image_h);
    }
    // The confusion matrix over the first test images, renewed every second.
    if (confusion.empty() || seconds_since(last_confusion) > 1.0) {
      confusion.assign(static_cast<size_t>(s.classes * s.classes), 0);
      const Index count = std::min(kConfusionImages, test.size());
      for (Index start = 0; start < count; start += 500) {
        std::vector<Index> chunk;
        for (Index i = start; i < std::min(count, start + 500); ++i) chunk.push_back(i);
        gather_batch(test, chunk.data(), static_cast<Index>(chunk.size()), x, labels);
        const Tensor<float> out = model.predict(x);
        for (size_t k = 0; k < chunk.size(); ++k) {
          Index best;
          out.matrix().row(k).maxCoeff(&best);
          if (labels[k] < s.classes) ++confusion[labels[k] * s.classes + best];
        }
      }
      last_confusion = Clock::now();
    }
    s.confusion = confusion;
    // Per-layer |eps| (this error type) and backprop's gradient, for the chosen image.
    s.chosen = std::clamp(chosen, 0, static_cast<int>(idx.size()) - 1);
    Index one = s.chosen;
    gather_batch(test, &one, 1, x, labels);
    const Targets<float> target = targets_from_labels<float>(model.loss(), labels, model.output_shape()[0]);
    // pc_infer overwrites the model's gradients, and a step under way may hold
    // its own there (Exact sets them in begin_step): put them back afterwards.
    const std::vector<Tensor<float>> kept = gradients(model);
    const ErrType err = trainer->config().err;
    PCResult<float> pc = pc_infer(model, x, target, err, static_cast<float>(trainer->config().eta), trainer->config().n);
    PCResult<float> bp = pc_infer(model, x, target, ErrType::Exact, 0.0f, 0);
    const auto params = model.parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].param->grad = kept[i];
    for (Index l = 1; l <= model.depth(); ++l) {
      if (pc.eps[l].defined()) s.eps_maps.push_back(layer_map("|eps_" + std::to_string(l) + "|", pc.eps[l], 0, model.shape_at(l)));
      s.grad_maps.push_back(layer_map("|dL/dv_" + std::to_string(l) + "|", bp.eps[l], 0, model.shape_at(l)));
    }
  }
};

Run::Run(Settings settings, std::string data_dir) : worker_(std::make_unique<Worker>()) {
  worker_->settings = std::move(settings);
  worker_->data_dir = std::move(data_dir);
  auto s = std::make_shared<Snapshot>();
  s->settings = worker_->settings;
  s->status = "loading " + worker_->settings.dataset + "...";
  snapshot_ = s;
  busy_ = true;  // the build below
  commands_.push_back([](Worker& w) { w.build(); });
  thread_ = std::thread([this] { loop(); });
}

Run::~Run() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
    playing_ = false;
  }
  changed_.notify_all();
  thread_.join();
}

void Run::enqueue(std::function<void(Worker&)> command) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back(std::move(command));
  }
  changed_.notify_all();
}

void Run::play() {
  playing_ = true;
  changed_.notify_all();
}

void Run::pause() {
  playing_ = false;
  enqueue([](Worker&) {});  // republish the paused state
}

void Run::step(StepLevel level, int count) {
  playing_ = false;
  enqueue([this, level, count](Worker& w) {
    for (int i = 0; i < count && !quit_; ++i) {
      auto records = w.advance(level, playing_, false);
      std::lock_guard<std::mutex> lock(mutex_);
      history_.insert(history_.end(), records.begin(), records.end());
    }
  });
}

void Run::apply(const Settings& settings) {
  enqueue([this, settings](Worker& w) {
    const bool reset = settings.needs_reset_from(w.settings) || !w.trainer;
    w.settings = settings;
    if (reset) {
      playing_ = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        history_.clear();
      }
      w.build();
      return;
    }
    try {
      w.trainer->set_learning_rate(settings.lr);
      w.trainer->set_inference(parse_err_type(settings.err), settings.eta, settings.n);
    } catch (const std::exception& e) {
      w.status = e.what();
    }
  });
}

void Run::reset() {
  playing_ = false;
  enqueue([this](Worker& w) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      history_.clear();
    }
    w.build();
  });
}

void Run::set_speed(double steps_per_second) {
  enqueue([steps_per_second](Worker& w) { w.speed = std::max(0.0, steps_per_second); });
}

void Run::choose_image(int index) {
  enqueue([index](Worker& w) { w.chosen = index; });
}

void Run::save_weights(const std::string& path) {
  enqueue([path](Worker& w) {
    if (!w.trainer) return;
    try {
      TensorFile file;
      store_parameters(w.trainer->model(), file);
      write_safetensors(path, file);
      w.status = "saved the weights to " + path;
    } catch (const std::exception& e) {
      w.status = e.what();
    }
  });
}

std::shared_ptr<const Snapshot> Run::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return snapshot_;
}

size_t Run::history_size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return history_.size();
}

void Run::copy_history(size_t from, std::vector<StepRecord>& out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (from < history_.size()) out.insert(out.end(), history_.begin() + static_cast<std::ptrdiff_t>(from), history_.end());
}

void Run::wait_idle() const {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return commands_.empty() && !busy_ && !playing_; });
}

void Run::loop() {
  Worker& w = *worker_;
  for (;;) {
    std::function<void(Worker&)> command;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      busy_ = false;
      changed_.notify_all();
      changed_.wait(lock, [&] { return quit_ || !commands_.empty() || (playing_ && w.trainer && !w.diverged()); });
      if (quit_) return;
      busy_ = true;
      if (!commands_.empty()) {
        command = std::move(commands_.front());
        commands_.pop_front();
      }
    }
    if (command) {
      command(w);
    } else {  // playing
      if (w.speed > 0) {
        const double wait = 1.0 / w.speed - seconds_since(w.last_step);
        if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, 0.05)));
        if (seconds_since(w.last_step) < 1.0 / w.speed) continue;
      }
      auto records = w.advance(StepLevel::Update, playing_, true);
      std::lock_guard<std::mutex> lock(mutex_);
      history_.insert(history_.end(), records.begin(), records.end());
    }
    if (w.diverged()) playing_ = false;
    // Publish: always after a command, at most every kPublishSeconds while playing.
    if (command || !playing_ || seconds_since(w.last_publish) > kPublishSeconds) {
      auto s = w.make_snapshot(playing_);
      w.last_publish = Clock::now();
      std::lock_guard<std::mutex> lock(mutex_);
      snapshot_ = std::move(s);
    }
  }
}

}  // namespace pcplay::ui
