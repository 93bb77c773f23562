#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "error.h"
#include "file_util.h"
#include "memory.h"
#include "model_file.h"

namespace pcplay {

void check_train_config(const TrainConfig& c) {
  check_inference_settings(c.err, c.eta, c.n, c.tol);
  check_optimizer_config(c.optimizer);
  if (c.batch < 1) throw Error("the batch size must be at least 1");
  if (c.threads < 0 || c.threads > 256) throw Error("threads must be 1 to 256 (or 0: one per hardware thread)");
}

template <typename T>
uint64_t training_bytes(const Model<T>& model, const TrainConfig& config, Index batch) {
  // Per parameter: its value and grad, the optimizer's slots, and the copies of
  // both a step keeps to undo an update that overflows; with compare_bp, the
  // twin's value, grad and slots, and backprop's reference gradient.
  const uint64_t slots = config.optimizer.kind == OptimizerKind::Adam ? 2 : config.optimizer.momentum != 0 ? 1 : 0;
  // iPC sums the gradients of its iterations.
  const uint64_t per_param = 3 + 2 * slots + (config.compare_bp ? 3 + slots : 0) + learns_while_relaxing(config.err);
  // Per sample: each layer's output and its gradient in the traces, each
  // block's v̂, v and ε, once per relaxation kept (PC's, and with compare_bp
  // backprop's for the reference gradient and for the twin); the batch itself.
  uint64_t layer_values = 0, block_values = 0;
  for (Index l = 1; l <= model.depth(); ++l) {
    for (const auto& layer : model.f(l).layers) layer_values += static_cast<uint64_t>(shape_numel(layer->out_shape));
    block_values += static_cast<uint64_t>(shape_numel(model.shape_at(l)));
  }
  const uint64_t relaxations = config.compare_bp ? 3 : 1;
  // On several threads, each thread's share of the rows has traces and VJP
  // scratch of its own (PCInference::Share).
  const bool shared = config.threads != 1 && sweeps_by_row_shares(config.err);
  const uint64_t per_sample = (2 * layer_values + 3 * block_values) * relaxations +
                              (shared ? 2 * layer_values + block_values : 0) +
                              2 * static_cast<uint64_t>(shape_numel(model.input_shape()));
  // evaluate() runs the forward pass on chunks of its own size.
  const uint64_t evaluation = (layer_values + static_cast<uint64_t>(shape_numel(model.input_shape()))) *
                              static_cast<uint64_t>(Trainer<T>::kEvaluationChunk);
  return sizeof(T) * (per_param * static_cast<uint64_t>(model.num_parameters()) +
                      per_sample * static_cast<uint64_t>(batch) + evaluation);
}

template <typename T>
Trainer<T>::Trainer(const ModelSpec& spec, DataSplit data, TrainConfig config, const Model<T>* initial)
    : Trainer(spec, std::make_shared<const DataSplit>(std::move(data)), std::move(config), initial) {}

template <typename T>
Trainer<T>::Trainer(const ModelSpec& spec, std::shared_ptr<const DataSplit> data, TrainConfig config,
                    const Model<T>* initial)
    : config_(std::move(config)), data_(std::move(data)), model_(spec), rng_(config_.seed ^ 0x5eed) {
  check_train_config(config_);
  pool_ = std::make_unique<ThreadPool>(config_.threads);
  model_.set_thread_pool(pool_.get());
  if (data_->train.size() < 1 || data_->test.size() < 1) throw Error("training and test sets must not be empty");
  if (data_->train.sample_shape != model_.input_shape())
    throw Error("the data's samples are " + shape_str(data_->train.sample_shape) + " but the model takes " +
                shape_str(model_.input_shape()));
  if (data_->train.num_classes > model_.output_shape()[0])
    throw Error("the data has " + std::to_string(data_->train.num_classes) + " classes but the model only " +
                std::to_string(model_.output_shape()[0]) + " outputs");
  // The model's weights and gradients exist already: what they hold counts as available.
  const Index batch = std::min(config_.batch, std::max(data_->train.size(), data_->test.size()));
  check_memory(training_bytes(model_, config_, batch),
               "training this model (" + std::to_string(model_.num_parameters()) + " parameters) on batches of " +
                   std::to_string(batch),
               memory_available() + 2 * sizeof(T) * static_cast<uint64_t>(model_.num_parameters()));
  if (initial)
    model_.copy_parameters_from(*initial);
  else
    model_.init(config_.seed);
  optimizer_ = make_optimizer<T>(config_.optimizer);
  if (config_.compare_bp) {
    twin_ = std::make_unique<Model<T>>(model_);
    twin_->set_thread_pool(pool_.get());
    twin_optimizer_ = make_optimizer<T>(config_.optimizer);
  }
  order_.resize(data_->train.size());
  std::iota(order_.begin(), order_.end(), Index(0));
  cursor_ = static_cast<Index>(order_.size());  // shuffle on the first batch
}

namespace {
// A fingerprint of the weights and the optimizer's state.
template <typename T>
uint64_t state_digest(Model<T>& model, const Optimizer<T>& optimizer) {
  uint64_t h = kFnv1aStart;
  for (const NamedParam<T>& p : model.parameters()) h = fnv1a(p.param->value.data(), sizeof(T) * p.param->value.size(), h);
  for (const auto& slot : optimizer.state().slots)
    for (const Tensor<T>& t : slot) h = fnv1a(t.data(), sizeof(T) * t.size(), h);
  return h;
}
}  // namespace

template <typename T>
void Trainer<T>::share_with(Collective* collective) {
  if (step_ > 0 || relaxing_) throw Error("a run is shared among processes before its first step");
  collective_ = collective;
  if (!collective_) return;
  // Processes that read different data (another file at the same path) or
  // were told other settings would train on wrong sums, or wait forever in
  // sums of different sizes.
  const auto exact = [](double x) {
    char text[32];
    std::snprintf(text, sizeof text, " %.17g", x);
    return std::string(text);
  };
  const OptimizerConfig& opt = config_.optimizer;
  const std::string settings = model_json(model_.spec()) + err_type_name(config_.err) + exact(config_.eta) +
                               exact(config_.n) + exact(config_.tol) + exact(static_cast<double>(config_.batch)) +
                               std::to_string(config_.seed) + exact(config_.compare_bp) + optimizer_name(opt.kind) +
                               exact(opt.lr) + exact(opt.momentum) + exact(opt.dampening) + exact(opt.nesterov) +
                               exact(opt.beta1) + exact(opt.beta2) + exact(opt.eps) + exact(opt.weight_decay);
  if (!collective_->all_equal(data_digest(*data_), "the data"))
    throw Error("the processes read different data (each reads it from its own path: give every machine the same "
                "files)");
  if (!collective_->all_equal(fnv1a(settings.data(), settings.size()), "the settings"))
    throw Error("the processes were given different models or settings");
  check_processes_agree();
}

template <typename T>
void Trainer<T>::check_processes_agree() {
  if (!collective_ || relaxing_) return;
  if (!collective_->all_equal(state_digest(model_, *optimizer_), "the weights"))
    throw Error("the processes' weights differ at step " + std::to_string(step_) +
                " (their sums came back different: an MPI library that does not give every rank the same result)");
}

template <typename T>
void Trainer<T>::sum_over_processes(std::initializer_list<double*> values, const char* what) const {
  if (!collective_) return;
  double message[8];
  size_t count = 0;
  for (double* v : values) message[count++] = *v;
  collective_->sum(message, count, what);
  count = 0;
  for (double* v : values) *v = message[count++];
}

template <typename T>
void Trainer<T>::set_learning_rate(double lr) {
  OptimizerConfig c = config_.optimizer;
  c.lr = lr;
  check_optimizer_config(c);
  config_.optimizer.lr = lr;
  optimizer_->lr = lr;
  if (twin_optimizer_) twin_optimizer_->lr = lr;
}

template <typename T>
void Trainer<T>::set_inference(ErrType err, double eta, int n, double tol) {
  check_inference_settings(err, eta, n, tol);
  config_.err = err;
  config_.eta = eta;
  config_.n = n;
  config_.tol = tol;
}

// Batches walk a fresh permutation each epoch; the last one of an epoch may
// be smaller.
template <typename T>
void Trainer<T>::next_batch() {
  const Index n = static_cast<Index>(order_.size());
  if (cursor_ >= n) {
    std::iota(order_.begin(), order_.end(), Index(0));
    rng_.shuffle(order_);
    cursor_ = 0;
    ++epochs_started_;
  }
  const Index count = std::min(config_.batch, n - cursor_);
  std::vector<int64_t> labels;
  batch_.assign(order_.begin() + cursor_, order_.begin() + cursor_ + count);
  const Share share = share_of(count, collective_);
  gather_batch(data_->train, batch_.data() + share.begin, share.count(), x_, labels);
  y_ = targets_from_labels<T>(model_.loss(), labels, model_.output_shape()[0]);
  if (collective_) y_.batch_total = count;
  cursor_ += count;
}

namespace {
// A batch's accuracy, or of a share of a batch (y.batch_total set), the
// count of its samples classified right: summed over the processes, then
// divided by the batch's size, it gives the batch's accuracy exactly.
template <typename T>
double accuracy_or_count(const Tensor<T>& yhat, const Targets<T>& y) {
  return y.batch_total == 0 ? accuracy(yhat, y) : static_cast<double>(correct_predictions(yhat, y));
}
}  // namespace

template <typename T>
Evaluation Trainer<T>::evaluate_batch(const Model<T>& model, const Tensor<T>& x, const Targets<T>& y) const {
  const Tensor<T> yhat = model.predict(x);
  return {static_cast<double>(loss_value(model.loss(), yhat, y)), accuracy(yhat, y)};
}

// (Of a share: its part of the batch's loss and its count of right answers.)

template <typename T>
Evaluation Trainer<T>::evaluate_test_batch(const Model<T>& model, const Targets<T>& y) {
  model.forward(test_x_, test_values_, test_traces_);
  return {static_cast<double>(loss_value(model.loss(), test_values_.back(), y)), accuracy_or_count(test_values_.back(), y)};
}

template <typename T>
Evaluation Trainer<T>::evaluate(const Dataset& data, bool backprop_twin) const {
  const Model<T>& model = backprop_twin && twin_ ? *twin_ : model_;
  const Index chunk = kEvaluationChunk;
  std::vector<Index> idx(static_cast<size_t>(data.size()));
  std::iota(idx.begin(), idx.end(), Index(0));
  Evaluation total;
  Tensor<T> x;
  std::vector<int64_t> labels;
  const Share share = share_of(data.size(), collective_);
  for (Index start = share.begin; start < share.end; start += chunk) {
    const Index count = std::min(chunk, share.end - start);
    gather_batch(data, idx.data() + start, count, x, labels);
    const Evaluation e = evaluate_batch(model, x, targets_from_labels<T>(model.loss(), labels, model.output_shape()[0]));
    total.loss += e.loss * count;
    total.accuracy += e.accuracy * count;
  }
  sum_over_processes({&total.loss, &total.accuracy}, "the evaluation");
  total.loss /= static_cast<double>(data.size());
  total.accuracy /= static_cast<double>(data.size());
  return total;
}

template <typename T>
double Trainer<T>::epoch() const {
  if (epochs_started_ == 0) return 0;
  return static_cast<double>(epochs_started_ - 1) + static_cast<double>(cursor_) / static_cast<double>(order_.size());
}

template <typename T>
void Trainer<T>::begin_step() {
  if (diverged_ || relaxing_) return;
  t0_ = std::chrono::steady_clock::now();
  next_batch();
  pending_ = StepMetrics();
  pending_.step = step_ + 1;
  if (config_.compare_bp) {  // backprop's gradient of the same weights, same batch
    if (!backprop_) backprop_ = std::make_unique<PCInference<T>>(model_, ErrType::Exact, T(0));
    backprop_->share_with(collective_);
    backprop_->start(x_, y_);
    bp_grads_ = gradients(model_);
  }
  step_n_ = config_.err == ErrType::Exact ? 0 : config_.n;  // a step keeps its settings to the end
  if (!inference_ || inference_->err != config_.err || inference_->eta != static_cast<T>(config_.eta))
    inference_ = std::make_unique<PCInference<T>>(model_, config_.err, static_cast<T>(config_.eta),
                                                  learns_while_relaxing(config_.err) ? optimizer_.get() : nullptr);
  inference_->set_tolerance(config_.tol);
  inference_->share_with(collective_);
  if (learns_while_relaxing(config_.err)) keep_last_good();
  inference_->start(x_, y_);
  relaxing_ = true;
  pending_.train = {static_cast<double>(inference_->loss), accuracy_or_count(inference_->vhat.back(), y_)};
  if (collective_) {
    sum_over_processes({&pending_.train.accuracy}, "the batch's accuracy");
    pending_.train.accuracy /= static_cast<double>(y_.batch_total);
  }
}

template <typename T>
bool Trainer<T>::relax(int iterations) {
  if (!relaxing_) return true;
  for (int i = 0; i < iterations && !relaxed(); ++i) {
    inference_->sweep();
    pending_.sweeps.push_back(inference_->stats());
  }
  return relaxed();
}

template <typename T>
bool Trainer<T>::relaxed() const {
  return !relaxing_ || inference_->iterations() >= step_n_ || inference_->converged() ||
         inference_->divergence().kind == Divergence::Kind::NonFinite;
}

template <typename T>
StepMetrics Trainer<T>::finish_step() {
  if (!relaxing_) return last_;
  relax(step_n_);  // whatever is left of the relaxation
  inference_->set_gradients();  // (nothing left to do for Exact)
  StepMetrics m = std::move(pending_);
  m.iterations = inference_->iterations();
  const Divergence d = inference_->divergence();
  relaxing_ = false;
  if (config_.compare_bp) m.agreement = agreement_per_block(model_, gradients(model_), bp_grads_);

  m.energy_rose = d.kind == Divergence::Kind::EnergyRose;
  energy_rose_steps_ += m.energy_rose;
  if (d.kind == Divergence::Kind::NonFinite) {
    m.divergence = d.describe();
    if (learns_while_relaxing(config_.err)) restore_last_good();
  } else if (!learns_while_relaxing(config_.err)) {
    // Huge but finite gradients can still overflow the update: undo it then,
    // the optimizer's state included, so that the run could go on.
    keep_last_good();
    const auto params = model_.parameters();
    optimizer_->step(params);
    for (size_t i = 0; i < params.size() && m.divergence.empty(); ++i)
      if (!params[i].param->value.all_finite()) m.divergence = "the update made " + params[i].name + " non-finite";
    if (!m.divergence.empty()) restore_last_good();
  }
  if (!m.divergence.empty()) {
    diverged_ = true;
    m.diverged = true;
    m.divergence = "diverged at step " + std::to_string(m.step) + ": " + m.divergence;
    m.step = step_;
    m.epoch = epoch();
    last_ = m;
    return m;
  }

  if (twin_) {
    if (!twin_backprop_) twin_backprop_ = std::make_unique<PCInference<T>>(*twin_, ErrType::Exact, T(0));
    twin_backprop_->share_with(collective_);
    twin_backprop_->start(x_, y_);
    m.bp_train = {static_cast<double>(twin_backprop_->loss), accuracy_or_count(twin_backprop_->vhat.back(), y_)};
    twin_optimizer_->step(twin_->parameters());
  }

  // One random test batch, as the paper reports test loss per step.
  std::vector<Index> idx(static_cast<size_t>(std::min(config_.batch, data_->test.size())));
  for (Index& i : idx) i = static_cast<Index>(rng_.below(static_cast<uint64_t>(data_->test.size())));
  std::vector<int64_t> tl;
  const Share share = share_of(static_cast<Index>(idx.size()), collective_);
  gather_batch(data_->test, idx.data() + share.begin, share.count(), test_x_, tl);
  Targets<T> ty = targets_from_labels<T>(model_.loss(), tl, model_.output_shape()[0]);
  if (collective_) ty.batch_total = static_cast<Index>(idx.size());
  m.test = evaluate_test_batch(model_, ty);
  if (twin_) m.bp_test = evaluate_test_batch(*twin_, ty);
  if (collective_) {
    sum_over_processes({&m.test.loss, &m.test.accuracy, &m.bp_test.loss, &m.bp_test.accuracy, &m.bp_train.accuracy},
                       "the step's metrics");
    for (double* count : {&m.test.accuracy, &m.bp_test.accuracy}) *count /= static_cast<double>(idx.size());
    m.bp_train.accuracy /= static_cast<double>(y_.batch_total);
  }

  ++step_;
  m.epoch = epoch();
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  last_ = m;
  return m;
}

template <typename T>
void Trainer<T>::keep_last_good() {
  const auto params = model_.parameters();
  last_good_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) last_good_[i] = params[i].param->value;
  last_good_state_ = optimizer_->state();
}

template <typename T>
void Trainer<T>::restore_last_good() {
  const auto params = model_.parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].param->value = last_good_[i];
  optimizer_->set_state(last_good_state_, params);
}

template <typename T>
StepMetrics Trainer<T>::step() {
  if (diverged_) return last_;
  begin_step();
  return finish_step();
}

template <typename T>
void Trainer<T>::skip_diverged_step() {
  diverged_ = false;
}

namespace {

using json = nlohmann::json;

constexpr const char* kTrainerKey = "pcplay.trainer";

// The tensors whose names start with `prefix`, without it.
TensorFile with_prefix(const TensorFile& file, const std::string& prefix) {
  TensorFile part;
  for (const auto& entry : file.tensors)
    if (entry.first.compare(0, prefix.size(), prefix) == 0) part.tensors[entry.first.substr(prefix.size())] = entry.second;
  return part;
}

template <typename T>
void store_optimizer(const Optimizer<T>& optimizer, Model<T>& model, const std::string& prefix, TensorFile& file,
                     json& meta) {
  const OptimizerState<T> state = optimizer.state();
  const auto params = model.parameters();
  for (size_t k = 0; k < state.slots.size(); ++k)
    for (size_t i = 0; i < state.slots[k].size(); ++i)
      file.tensors[prefix + state.slot_names[k] + "." + params[i].name] = store_tensor(state.slots[k][i]);
  meta[prefix + "step"] = state.steps;
}

template <typename T>
void load_optimizer(Optimizer<T>& optimizer, Model<T>& model, const std::string& prefix, const TensorFile& file,
                    const json& meta) {
  OptimizerState<T> state = optimizer.state();  // its slot names
  const auto params = model.parameters();
  state.slots.assign(state.slot_names.size(), {});
  for (size_t k = 0; k < state.slot_names.size(); ++k) {
    const TensorFile slot = with_prefix(file, prefix + state.slot_names[k] + ".");
    if (slot.tensors.empty()) continue;  // before the first step, or SGD without momentum
    for (const NamedParam<T>& p : params) {
      if (!slot.has(p.name)) throw Error("\"" + prefix + state.slot_names[k] + "." + p.name + "\" is missing");
      state.slots[k].push_back(load_tensor<T>(slot.at(p.name)));
    }
    if (slot.tensors.size() != params.size()) throw Error("\"" + prefix + state.slot_names[k] + "\" has tensors for no parameter");
  }
  state.steps = meta.at(prefix + "step").template get<long>();
  optimizer.set_state(state, params);
}

}  // namespace

template <typename T>
TensorFile Trainer<T>::checkpoint() {
  if (relaxing_) throw Error("a checkpoint cannot be taken while a step is under way");
  TensorFile file;
  json meta = {{"format", 1},
               {"dtype", dtype_name(dtype_of<T>())},
               {"step", step_},
               {"epochs_started", epochs_started_},
               {"cursor", cursor_},
               {"energy_rose_steps", energy_rose_steps_},
               {"rng", rng_.state()}};
  store_parameters(model_, file, "model.");
  store_optimizer(*optimizer_, model_, "optimizer.", file, meta);
  if (twin_) {
    store_parameters(*twin_, file, "twin.");
    store_optimizer(*twin_optimizer_, *twin_, "twin_optimizer.", file, meta);
  }
  file.tensors["trainer.order"] = store_labels(std::vector<int64_t>(order_.begin(), order_.end()));
  file.metadata[kTrainerKey] = meta.dump();
  return file;
}

template <typename T>
void Trainer<T>::restore(const TensorFile& file) {
  if (relaxing_) throw Error("a checkpoint cannot be restored while a step is under way");
  auto it = file.metadata.find(kTrainerKey);
  if (it == file.metadata.end()) throw Error("not a pcplay checkpoint (no " + std::string(kTrainerKey) + " metadata)");
  try {
    const json meta = json::parse(it->second);
    if (meta.at("format").get<int>() != 1) throw Error("checkpoint format " + meta.at("format").dump() + " is not 1");
    const std::string dtype = dtype_name(dtype_of<T>());
    if (meta.at("dtype").get<std::string>() != dtype)
      throw Error("the checkpoint holds " + meta.at("dtype").get<std::string>() + " weights, not " + dtype);
    if (twin_ && !meta.contains("twin_optimizer.step"))
      throw Error("the checkpoint has no backprop twin (it was made without --compare-bp)");
    if (!twin_ && meta.contains("twin_optimizer.step"))
      throw Error("the checkpoint has a backprop twin (it was made with --compare-bp)");
    const std::vector<int64_t> order = load_labels(file.at("trainer.order"), "trainer.order");
    const long step = meta.at("step").get<long>(), epochs_started = meta.at("epochs_started").get<long>();
    const Index cursor = meta.at("cursor").get<Index>();
    const long energy_rose_steps = meta.at("energy_rose_steps").get<long>();
    const Rng::State rng = meta.at("rng").get<Rng::State>();
    if (static_cast<Index>(order.size()) != data_->train.size())
      throw Error("its batch order covers " + std::to_string(order.size()) + " samples, but the training set has " +
                  std::to_string(data_->train.size()));
    std::vector<bool> seen(order.size());
    for (int64_t i : order) {
      if (i < 0 || i >= static_cast<int64_t>(order.size()) || seen[i]) throw Error("its batch order is not a permutation");
      seen[i] = true;
    }
    if (step < 0 || epochs_started < 0 || energy_rose_steps < 0 || cursor < 0 || cursor > static_cast<Index>(order.size()))
      throw Error("its step, epoch or batch position is out of range");

    // Into copies first: a checkpoint that does not fit leaves the run as it was.
    for (const auto& entry : file.tensors)
      if (entry.first != "trainer.order" && entry.second.dtype != dtype_of<T>())
        throw Error("\"" + entry.first + "\" is not stored as " + dtype);
    Model<T> model(model_.spec());
    load_parameters(model, with_prefix(file, "model."));
    auto optimizer = make_optimizer<T>(config_.optimizer);
    load_optimizer(*optimizer, model, "optimizer.", file, meta);
    std::unique_ptr<Model<T>> twin;
    std::unique_ptr<Optimizer<T>> twin_optimizer;
    if (twin_) {
      twin = std::make_unique<Model<T>>(model_.spec());
      load_parameters(*twin, with_prefix(file, "twin."));
      twin_optimizer = make_optimizer<T>(config_.optimizer);
      load_optimizer(*twin_optimizer, *twin, "twin_optimizer.", file, meta);
    }

    model_.copy_parameters_from(model);
    optimizer_ = std::move(optimizer);
    inference_.reset();  // iPC's steps the optimizer it was made with
    if (twin_) {
      twin_->copy_parameters_from(*twin);
      twin_optimizer_ = std::move(twin_optimizer);
    }
    order_.assign(order.begin(), order.end());
    cursor_ = cursor;
    step_ = step;
    epochs_started_ = epochs_started;
    energy_rose_steps_ = energy_rose_steps;
    diverged_ = false;
    rng_.set_state(rng);
  } catch (const json::exception& e) {
    throw Error(std::string("its ") + kTrainerKey + " metadata is malformed (" + e.what() + ")");
  }
}

template class Trainer<float>;
template class Trainer<double>;
template uint64_t training_bytes(const Model<float>&, const TrainConfig&, Index);
template uint64_t training_bytes(const Model<double>&, const TrainConfig&, Index);

}  // namespace pcplay
