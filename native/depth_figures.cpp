#include "depth_figures.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "data_io.h"
#include "diagnostics.h"
#include "file_util.h"
#include "metrics.h"
#include "model_file.h"
#include "svg_plot.h"
#include "thread_pool.h"
#include "trainer.h"

namespace pcplay::cli {
namespace {

using json = nlohmann::json;

DataSplit data_for(const std::string& name, const FigureRun& run) {
  DataOptions options;
  options.data_dir = run.data_dir;
  return load_data(name, options);
}

// A dense tanh net for MNIST: depth − 1 hidden layers of `width`, then the 10 outputs.
ModelSpec dense_tanh_net(Index width, Index depth) {
  ModelSpec spec;
  spec.input_shape = {1, 28, 28};
  spec.loss = LossKind::CrossEntropy;
  for (Index l = 1; l <= depth; ++l) {
    BlockSpec block;
    if (l == 1) block.push_back({"flatten"});
    block.push_back({"linear", l < depth ? width : 10});
    if (l < depth) block.push_back({"tanh"});
    spec.blocks.push_back(block);
  }
  return spec;
}

std::vector<double> as_doubles(const std::vector<Index>& v) { return std::vector<double>(v.begin(), v.end()); }

// Trains `spec` for `steps` and returns the per-step records and the whole test set's evaluation.
struct TrainedRun {
  std::vector<StepMetrics> steps;
  Evaluation test;
  std::string divergence;
};

TrainedRun train_for(const FigureRun& run, const ModelSpec& spec, std::shared_ptr<const DataSplit> data, const TrainConfig& config,
                     long steps, const std::string& what) {
  Trainer<float> trainer(spec, std::move(data), config);
  trainer.share_with(run.collective);
  TrainedRun out;
  for (long s = 0; s < steps; ++s) {
    StepMetrics m = trainer.step();
    if (m.diverged) {  // kept in the figure: where a method breaks is part of the story
      out.divergence = m.divergence;
      break;
    }
    out.steps.push_back(std::move(m));
  }
  out.test = trainer.evaluate(trainer.data().test);
  if (leads(run.collective))
    std::fprintf(stderr, "  %s: test accuracy %.4f%s\n", what.c_str(), out.test.accuracy,
               out.divergence.empty() ? "" : (" (" + out.divergence + ")").c_str());
  return out;
}

}  // namespace

// Layer 1's update at equal iterations (η = 0.1, n = 20), against backprop's
// gradient of the same weights on the same batch. iPC updates the weights
// as it goes (plain SGD, lr 1e-5 here: the hidden errors' energy sums over
// the batch, so a step on W_1 moves f_1(x) by about lr·B·‖x‖² times its
// error, 0.13 here, and much above 1e-4 it overshoots); its update is the
// mean of the gradients its iterations applied.
json signal_decay_figure(const FigureRun& run, const std::string& stem) {
  const DataSplit data = data_for("mnist", run);
  const std::vector<Index> depths = run.quick ? std::vector<Index>{2, 3} : std::vector<Index>{2, 4, 8, 16, 32};
  const Index width = run.quick ? 16 : 64, batch = run.quick ? 16 : 128;
  const double eta = 0.1;
  const int n = 20;
  const std::vector<ErrType> algorithms = {ErrType::Strict, ErrType::FixedPred, ErrType::ErrorBased,
                                           ErrType::Incremental};
  Rng rng(run.seed + 1);
  std::vector<Index> idx(static_cast<size_t>(batch));
  for (Index& i : idx) i = static_cast<Index>(rng.below(static_cast<uint64_t>(data.train.size())));
  Tensor<double> x;
  std::vector<int64_t> labels;
  gather_batch(data.train, idx.data(), batch, x, labels);
  const Targets<double> y = targets_from_labels<double>(LossKind::CrossEntropy, labels, 10);
  ThreadPool pool(run.threads);

  std::string csv = "depth,err,rel_error_1,angle_1\n";
  PlotPanel rel{"Relative error of layer 1's update", "depth L (blocks)", "||g - g_BP|| / ||g_BP||", true, false, 0, 0, {}};
  PlotPanel angle{"Angle of layer 1's update to backprop's", "depth L (blocks)", "degrees", true, false, 0, 0, {}};
  json summary = json::object();
  for (size_t a = 0; a < algorithms.size(); ++a) {
    const ErrType err = algorithms[a];
    std::vector<double> r, g;
    for (Index depth : depths) {
      Model<double> model(dense_tanh_net(width, depth));
      model.set_thread_pool(&pool);
      model.init(run.seed);
      pc_infer(model, x, y, ErrType::Exact, 0.0, 0);
      const std::vector<Tensor<double>> bp = gradients(model);
      OptimizerConfig sgd;
      sgd.kind = OptimizerKind::SGD;
      sgd.lr = 1e-5;
      const auto optimizer = make_optimizer<double>(sgd);
      PCInference<double> inference(model, err, eta, learns_while_relaxing(err) ? optimizer.get() : nullptr);
      inference.run(x, y, n);
      const GradientAgreement first = agreement_per_block(model, gradients(model), bp)[0];
      r.push_back(first.rel_error);
      g.push_back(first.angle_deg);
      csv += std::to_string(depth) + "," + err_type_name(err) + "," + csv_number(first.rel_error) + "," +
             csv_number(first.angle_deg) + "\n";
    }
    rel.series.push_back({err_type_label(err), as_doubles(depths), r, false, static_cast<int>(a)});
    angle.series.push_back({err_type_label(err), as_doubles(depths), g, false, static_cast<int>(a)});
    summary[err_type_name(err)] = {{"rel_error_1", r}, {"angle_1", g}};
  }
  write_figure_file(run, stem + ".csv", csv);
  const std::string title = "Signal decay: dense tanh nets of width " + std::to_string(width) +
                            ", one MNIST batch, eta = 0.1, n = 20";
  write_figure_file(run, stem + ".svg", svg_figure(title, {rel, angle}, 2));
  return {{"figure", "decay"}, {"title", title}, {"depths", depths}, {"eta", eta}, {"n", n}, {"by_err", summary}};
}

// The runs at each depth: backprop on the standard net, Strict and ePC on
// the standard net and on μPC's. The standard net learns at Adam's usual
// 0.001; μPC's N(0, 1) weights at 0.1 (jpc's). ePC on the standard net
// needs η = 0.01: at 0.1 its energy rises in most steps at depth 64.
json depth_figure(const FigureRun& run, const std::string& stem) {
  struct Method {
    std::string label, net;  // net: "resmlp" or "mupc"
    ErrType err;
    double eta, lr;
  };
  const std::vector<Method> methods = {
      {"backprop", "resmlp", ErrType::Exact, 0, 0.001},
      {"Strict, standard", "resmlp", ErrType::Strict, 0.1, 0.001},
      {"Strict, muPC", "mupc", ErrType::Strict, 0.1, 0.1},
      {"ePC, standard", "resmlp", ErrType::ErrorBased, 0.01, 0.001},
      {"ePC, muPC", "mupc", ErrType::ErrorBased, 0.1, 0.1},
  };
  const std::vector<Index> depths = run.quick ? std::vector<Index>{4} : std::vector<Index>{8, 16, 32, 64, 128};
  const Index width = run.quick ? 16 : 128;
  const long steps = run.quick ? 5 : 250;
  const int n = 16;
  auto data = std::make_shared<const DataSplit>(data_for("mnist", run));

  std::string csv = "depth,method,net,err,eta,n,lr,steps_made,test_loss,test_accuracy,divergence\n";
  PlotPanel accuracy{"Test accuracy after " + std::to_string(steps) + " steps of 64 (n = 16)", "depth L (blocks)",
                     "accuracy", true, false, 0, 1, {}};
  json summary = json::object();
  for (size_t k = 0; k < methods.size(); ++k) {
    const Method& m = methods[k];
    std::vector<double> acc;
    for (Index depth : depths) {
      const std::string name = m.net + ":" + std::to_string(width) + "," + std::to_string(depth);
      TrainConfig config;
      config.err = m.err;
      config.eta = m.eta;
      config.n = n;
      config.optimizer.lr = m.lr;
      config.batch = 64;
      config.seed = run.seed;
      config.threads = run.threads;
      const ModelSpec spec = residual_mlp_model(name, data->train.sample_shape, 10);
      const TrainedRun r = train_for(run, spec, data, config, steps, m.label + ", depth " + std::to_string(depth));
      acc.push_back(r.test.accuracy);
      csv += std::to_string(depth) + "," + m.label + "," + m.net + "," + err_type_name(m.err) + "," +
             csv_number(m.eta) + "," + std::to_string(n) + "," + csv_number(m.lr) + "," +
             std::to_string(r.steps.size()) + "," + csv_number(r.test.loss) + "," + csv_number(r.test.accuracy) +
             ",\"" + r.divergence + "\"\n";
    }
    accuracy.series.push_back({m.label, as_doubles(depths), acc, false, static_cast<int>(k)});
    summary[m.label] = acc;
  }
  write_figure_file(run, stem + ".csv", csv);
  const std::string title = "Depth: residual MLPs, width " + std::to_string(width) + ", MNIST";
  write_figure_file(run, stem + ".svg", svg_figure(title, {accuracy}, 1));
  return {{"figure", "depth"}, {"title", title}, {"depths", depths}, {"steps", steps}, {"test_accuracy", summary}};
}

json spiral_figure(const FigureRun& run, const std::string& stem) {
  struct Setting {
    std::string label;
    ErrType err;
    double eta;
    int n;
  };
  const std::vector<Setting> settings = {{"backprop", ErrType::Exact, 0.1, 20},
                                         {"FixedPred", ErrType::FixedPred, 0.1, 20},
                                         {"Strict", ErrType::Strict, 0.1, 20},
                                         {"ePC", ErrType::ErrorBased, 0.1, 20},
                                         {"iPC", ErrType::Incremental, 0.1, 20},
                                         {"Strict, eta 0.01", ErrType::Strict, 0.01, 20},
                                         {"ePC, eta 0.002, n 5", ErrType::ErrorBased, 0.002, 5}};
  const long window = run.quick ? 10 : 100;  // the plots show each window's mean: a step's batch is noisy
  const long steps = run.quick ? 40 : 4000;
  auto data = std::make_shared<const DataSplit>(data_for("spiral", run));
  const ModelSpec spec = model_preset("mlp-2d-deep");

  std::string csv = "run,step,train_loss,test_loss,test_accuracy\n";
  PlotPanel loss{"Training loss, mean of " + std::to_string(window) + " steps", "step", "loss", false, true, 0, 0, {}};
  PlotPanel accuracy{"Test accuracy (batches), mean of " + std::to_string(window) + " steps", "step", "accuracy", false,
                     false, 0, 1, {}};
  json summary = json::array();
  for (size_t k = 0; k < settings.size(); ++k) {
    const Setting& s = settings[k];
    TrainConfig config;
    config.err = s.err;
    config.eta = s.eta;
    config.n = s.n;
    config.optimizer.lr = 0.01;
    config.seed = run.seed;
    config.threads = 1;  // a small net: threads would only add overhead
    const std::string& label = s.label;
    const TrainedRun r = train_for(run, spec, data, config, steps, label);
    std::vector<double> x, l, a;
    double loss_sum = 0, accuracy_sum = 0;
    for (size_t i = 0; i < r.steps.size(); ++i) {
      const StepMetrics& m = r.steps[i];
      csv += "\"" + label + "\"," + std::to_string(m.step) + "," + csv_number(m.train.loss) + "," +
             csv_number(m.test.loss) + "," + csv_number(m.test.accuracy) + "\n";
      loss_sum += m.train.loss;
      accuracy_sum += m.test.accuracy;
      if ((i + 1) % static_cast<size_t>(window) == 0) {
        x.push_back(static_cast<double>(m.step) - window / 2.0);
        l.push_back(loss_sum / window);
        a.push_back(accuracy_sum / window);
        loss_sum = accuracy_sum = 0;
      }
    }
    loss.series.push_back({label, x, l, k >= 5, static_cast<int>(k)});
    accuracy.series.push_back({label, x, a, k >= 5, static_cast<int>(k)});
    summary.push_back({{"run", label}, {"err", err_type_name(s.err)}, {"eta", s.eta}, {"n", s.n},
                       {"test_accuracy", r.test.accuracy}, {"divergence", r.divergence}});
  }
  write_figure_file(run, stem + ".csv", csv);
  const std::string title = "Spiral, mlp-2d-deep (5 tanh blocks), Adam lr 0.01; eta 0.1, n 20 unless told";
  write_figure_file(run, stem + ".svg", svg_figure(title, {loss, accuracy}, 2));
  return {{"figure", "spiral"}, {"title", title}, {"steps", steps}, {"runs", summary}};
}

void write_figure_file(const FigureRun& run, const std::string& path, const std::string& text) {
  if (leads(run.collective)) write_file_atomically(path, text);
}

}  // namespace pcplay::cli
