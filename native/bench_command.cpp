// pcplay bench: how long a whole training step takes (PCInfer, then the
// optimizer's update; iPC updates at every iteration) on random data of the
// model's input shape, after a warm-up; one line of results, or JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "model_file.h"
#include "optim.h"
#include "options.h"
#include "pc_infer.h"
#include "random.h"
#include "thread_pool.h"

namespace pcplay::cli {
namespace {

struct BenchOptions {
  std::string model = "paper-mnist", dtype = "float32";
  ErrType err = ErrType::FixedPred;
  double eta = 0.1;
  int n = 20;
  Index batch = 300;
  int steps = 10, warmup = 2, threads = 0;
  double warmup_seconds = 0.5;
  uint64_t seed = 1;
  bool json = false;
};

template <typename T>
int run_bench(const BenchOptions& o) {
  const ErrType err = o.err;
  check_inference_settings(err, o.eta, o.n);
  // The model as for MNIST (a dense:W1,...:ACT net takes its sizes from it).
  Model<T> model(model_for_data(o.model, {1, 28, 28}, 10));
  ThreadPool pool(o.threads);
  model.set_thread_pool(&pool);
  model.init(o.seed);
  OptimizerConfig adam;
  auto optimizer = make_optimizer<T>(adam);

  Rng rng(o.seed + 1);
  Tensor<T> x(batch_shape(o.batch, model.input_shape()));
  for (Index i = 0; i < x.size(); ++i) x[i] = static_cast<T>(rng.uniform(0, 1));
  const Index classes = model.output_shape()[0];
  std::vector<int64_t> labels(static_cast<size_t>(o.batch));
  for (auto& label : labels) label = static_cast<int64_t>(rng.below(static_cast<uint64_t>(classes)));
  const Targets<T> y = targets_from_labels<T>(model.loss(), labels, classes);

  using Clock = std::chrono::steady_clock;
  std::vector<double> seconds;
  // Kept across steps, as the Trainer keeps it; iPC takes the optimizer's
  // step at every iteration, the others once after the relaxation.
  const bool learns = learns_while_relaxing(err);
  PCInference<T> inference(model, err, static_cast<T>(o.eta), learns ? optimizer.get() : nullptr);
  const std::vector<NamedParam<T>> params = model.parameters();
  auto step = [&] {
    inference.run(x, y, o.n);
    if (!learns) optimizer->step(params);
  };
  // The warm-up lasts its steps and at least warmup_seconds: this machine's
  // cores take a few hundred milliseconds of load to reach their full clock
  // (Exact's 6 ms step timed after 2 warm-up steps read 9.2 ms, after 30
  // steps 6.1 ms; on two threads 10.1 against 4.4 ms).
  const auto warm_start = Clock::now();
  for (int i = 0; i < o.warmup; ++i) step();
  while (std::chrono::duration<double>(Clock::now() - warm_start).count() < o.warmup_seconds) step();
  for (int i = 0; i < o.steps; ++i) {
    const auto t0 = Clock::now();
    step();
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  const size_t m = seconds.size();
  const double median = m % 2 ? seconds[m / 2] : 0.5 * (seconds[m / 2 - 1] + seconds[m / 2]);
  const double flops = pc_infer_flops(model, err, o.n) * static_cast<double>(o.batch);

  nlohmann::json r = {{"model", o.model},
                      {"err", err_type_name(err)},
                      {"eta", o.eta},
                      {"n", relaxes(err) ? o.n : 0},
                      {"batch", o.batch},
                      {"threads", pool.size()},
                      {"dtype", o.dtype},
                      {"steps", o.steps},
                      {"seconds_per_step", median},
                      {"seconds_min", seconds.front()},
                      {"seconds_max", seconds.back()},
                      {"samples_per_second", static_cast<double>(o.batch) / median},
                      {"flops_per_step", flops},
                      {"gflops", flops / median * 1e-9}};
  if (o.json) {
    std::printf("%s\n", r.dump().c_str());
  } else {
    std::printf("%s %s, batch %ld, %d thread%s, %s: %.2f ms per step (median of %d; %.2f to %.2f), "
                "%.0f samples/s, %.2f GFLOP/s\n",
                o.model.c_str(), err_type_name(err).c_str(), static_cast<long>(o.batch), pool.size(),
                pool.size() == 1 ? "" : "s", o.dtype.c_str(), median * 1e3, o.steps, seconds.front() * 1e3,
                seconds.back() * 1e3, static_cast<double>(o.batch) / median, flops / median * 1e-9);
  }
  return 0;
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time whole training steps (PCInfer and the update) on random data");
  cmd->add_option("--model", o->model, "Model file (JSON), built-in (" + model_preset_list() +
                  "), or dense:W1,W2,...:ACT (on MNIST's shape)")->capture_default_str();
  add_inference_options(cmd, o->err, o->eta, o->n);
  cmd->add_option("--batch", o->batch, "Batch size")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--steps", o->steps, "Timed steps (after the warm-up)")->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Untimed steps first")->check(CLI::Range(0, 1000))->capture_default_str();
  cmd->add_option("--warmup-seconds", o->warmup_seconds,
                  "... and untimed steps until this long has passed (cores reach their full clock under load)")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  add_threads_option(cmd, o->threads);
  add_dtype_option(cmd, o->dtype);
  cmd->add_option("--seed", o->seed, "Seed of the weights and the random batch")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON line");
  return [o] { return o->dtype == "float64" ? run_bench<double>(*o) : run_bench<float>(*o); };
}

}  // namespace pcplay::cli
