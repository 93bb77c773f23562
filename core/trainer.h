// A training run: the model, its optimizer and the data, stepped one batch at
// a time. Shared by the CLI and the playground.
//
// Per step, as in the paper's experiments: PCInfer on a training batch, an
// optimizer step, the feed-forward loss and accuracy of that batch, and the
// loss and accuracy on one random test batch. With compare_bp, also the
// backprop gradient of the same model on the same batch before the step
// (per-block relative error and angle of PC's gradient to it), and a backprop
// twin trained from identical initial weights on the same batches.
#pragma once

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "collective.h"
#include "datasets.h"
#include "diagnostics.h"
#include "metrics.h"
#include "optim.h"
#include "pc_infer.h"
#include "safetensors.h"
#include "thread_pool.h"

namespace pcplay {

struct TrainConfig {
  ErrType err = ErrType::FixedPred;
  double eta = 0.1;
  int n = 20;         // inference iterations per step, at most
  double tol = 0;     // the stopping rule (PCInference::set_tolerance); 0: every step makes n
  OptimizerConfig optimizer;
  Index batch = 32;
  uint64_t seed = 1;  // initial weights and batch order
  bool compare_bp = false;
  int threads = 1;    // threads that share each step's work (0: one per hardware thread); results do not depend on it
};

void check_train_config(const TrainConfig& config);  // throws Error

// A step's record, with what the step left besides.
struct StepMetrics : StepRecord {
  std::vector<SweepStats> sweeps;  // per inference iteration
  // A non-finite value in the errors, the loss, the gradients or the updated
  // weights: the run stops and keeps the last good weights.
  bool diverged = false;
  std::string divergence;  // what went non-finite, and where
};

// About the bytes a Trainer of this model and settings holds with batches of
// `batch` samples: the parameters with what each keeps beside them, and the
// layers' outputs for every sample of a batch several times over.
template <typename T>
uint64_t training_bytes(const Model<T>& model, const TrainConfig& config, Index batch);

template <typename T>
class Trainer {
 public:
  // Starts from `initial` weights when given (copied), else from PyTorch's
  // initialisation seeded by config.seed; the backprop twin starts from the
  // same. Throws Error when the model does not fit the data, or the run would
  // not fit in memory (memory_available()).
  Trainer(const ModelSpec& spec, DataSplit data, TrainConfig config, const Model<T>* initial = nullptr);
  // The same on shared data (the playground keeps its data across runs; no copy).
  Trainer(const ModelSpec& spec, std::shared_ptr<const DataSplit> data, TrainConfig config,
          const Model<T>* initial = nullptr);
  // Its relaxations refer to its model: it stays where it was made.
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One batch. After a divergence it does nothing and returns the same report.
  StepMetrics step();

  // The same step in three stages, for front ends that show the relaxation
  // as it runs (step() runs them back to back):
  //   begin_step   the next batch, backprop's reference gradient, the forward pass;
  //   relax(k)     up to k more inference iterations; true once the relaxation is done;
  //   finish_step  the gradients, the update, the twin, the test batch.
  // The error type, η and n a step uses are those when it began.
  void begin_step();
  bool relax(int iterations);
  bool relaxed() const;  // nothing left to relax (or no step under way)
  StepMetrics finish_step();
  // The relaxation of the step under way (between begin_step and finish_step),
  // else null, and the stats of its iterations so far.
  const PCInference<T>* relaxation() const { return relaxing_ ? inference_.get() : nullptr; }
  const std::vector<SweepStats>& relaxation_stats() const { return pending_.sweeps; }
  // Loss and accuracy of the feed-forward model over a whole data set, in
  // chunks of kEvaluationChunk samples.
  static constexpr Index kEvaluationChunk = 1024;
  Evaluation evaluate(const Dataset& data, bool backprop_twin = false) const;

  // Shares every batch among processes (MPI ranks; collective.h): this one
  // takes its contiguous share of each training and test batch, and the
  // gradients, losses, accuracies and the relaxation's measures are summed to
  // the whole batch's, so every process takes the same optimizer step and
  // reports the same metrics. Every process must make its Trainer alike (the
  // same spec, data, config and weights) and call this before the first step.
  // Throws Error, on every process, unless they agree on the data, the
  // model, the settings and the weights.
  void share_with(Collective* collective);
  // Throws Error, on every process, unless they hold the same weights and
  // optimizer state, bit for bit (each process takes the same step from the
  // same sums: a check, at checkpoints, that they still do). Nothing in one
  // process.
  void check_processes_agree();

  void set_learning_rate(double lr);
  // The error type, η, n and tol apply from the next step on (the run
  // continues; a step under way keeps its own).
  void set_inference(ErrType err, double eta, int n, double tol);
  Model<T>& model() { return model_; }
  const DataSplit& data() const { return *data_; }
  const TrainConfig& config() const { return config_; }
  long steps() const { return step_; }
  // The training samples of the step begun last (indices into data().train,
  // in batch order): the batch order a reference implementation can follow.
  const std::vector<Index>& batch_indices() const { return batch_; }
  long energy_rose_steps() const { return energy_rose_steps_; }
  double epoch() const;  // epochs done, fractional
  bool diverged() const { return diverged_; }
  // After a divergence: drop the step that diverged (the weights and the
  // optimizer's state are as before it) and go on with the next batch.
  void skip_diverged_step();

  // Everything the run carries from step to step: the weights, the
  // optimizer's state, the random generator, the batch order and position,
  // the backprop twin and its optimizer (names in docs/reliability.md). restore()
  // in a Trainer made with the same spec, data and config continues the run
  // exactly as it would have gone on: the same batches and losses, bit for
  // bit. Neither may be called while a step is under way.
  TensorFile checkpoint();
  void restore(const TensorFile& file);  // throws Error naming what does not fit

 private:
  void next_batch();
  // Adds up `values` over the processes (nothing in one process).
  void sum_over_processes(std::initializer_list<double*> values, const char* what) const;
  Evaluation evaluate_batch(const Model<T>& model, const Tensor<T>& x, const Targets<T>& y) const;
  // The same on the step's test batch, test_x_, through kept buffers.
  Evaluation evaluate_test_batch(const Model<T>& model, const Targets<T>& y);

  TrainConfig config_;
  std::shared_ptr<const DataSplit> data_;
  Collective* collective_ = nullptr;
  std::unique_ptr<ThreadPool> pool_;  // lent to the model and its twin
  Model<T> model_;
  std::unique_ptr<Optimizer<T>> optimizer_;
  std::unique_ptr<Model<T>> twin_;  // backprop twin
  std::unique_ptr<Optimizer<T>> twin_optimizer_;
  Rng rng_;
  std::vector<Index> order_;  // a permutation of the training set
  Index cursor_ = 0;          // position in order_
  std::vector<Index> batch_;  // order_[cursor_ - count, cursor_) of the last batch
  long epochs_started_ = 0;
  long step_ = 0;
  long energy_rose_steps_ = 0;
  Tensor<T> x_;
  Targets<T> y_;
  bool diverged_ = false;
  StepMetrics last_;
  // The relaxation, kept from step to step with its buffers (renewed when the
  // error type or η changes), and whether a step is under way.
  std::unique_ptr<PCInference<T>> inference_;
  bool relaxing_ = false;
  // Backprop's passes for compare_bp and for the twin, kept the same way.
  std::unique_ptr<PCInference<T>> backprop_, twin_backprop_;
  int step_n_ = 0;
  std::vector<Tensor<T>> bp_grads_;
  // The weights and the optimizer's state before the step changed them, to
  // undo a step whose update went non-finite.
  std::vector<Tensor<T>> last_good_;
  OptimizerState<T> last_good_state_;
  void keep_last_good();
  void restore_last_good();
  StepMetrics pending_;
  // The step's test batch and the layers' outputs on it, kept from step to
  // step: a batch's activations allocated anew each step cost more in page
  // faults than the forward pass itself (docs/performance.md).
  Tensor<T> test_x_;
  std::vector<Tensor<T>> test_values_;
  std::vector<BlockTrace<T>> test_traces_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace pcplay
