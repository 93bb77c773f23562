// pcplay train: a training run on a data set, with a progress bar, a
// metrics CSV, a JSON summary and checkpoints it can resume from. pcplay
// init: fresh weights for a model.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "data_io.h"
#include "datasets.h"
#include "error.h"
#include "file_util.h"
#include "model_file.h"
#include "options.h"
#include "safetensors.h"
#include "trainer.h"

namespace pcplay::cli {
namespace {

struct TrainOptions {
  std::string data = "circle", data_dir = default_data_dir(), model, loss, dtype = "float32";
  double noise = 0, ratio = 0.5;
  Index samples = 500;
  uint64_t seed = 1;
  TrainConfig config;
  TrainOptions() { config.threads = 0; }  // the command line uses every core unless told
  long steps = 1000;
  double epochs = 0;
  std::string metrics, save, init, batches;
  bool json = false, quiet = false;
  std::string checkpoint, resume;  // folders
  long every = 100;
  bool keep_going = false;
  bool steps_given = false;  // --steps or --epochs on the command line (a resumed run's new total)
  std::string resumed_spec, resumed_digest;  // a resumed run's model file and data fingerprint
  MpiJob* job = nullptr;  // under mpirun: the ranks every batch is shared among
  double mpi_timeout = MpiJob::kDefaultTimeout;
  bool leader() const { return !job || job->leader(); }  // prints and writes files
};

using json = nlohmann::json;

// A checkpoint folder holds checkpoint.safetensors, the trainer's state
// (Trainer::checkpoint) with the run's settings in its metadata, replaced
// atomically; and metrics.csv, the metrics of every step, appended as the run
// goes. Each checkpoint records how many of metrics.csv's bytes are its steps'
// (and their fingerprint): a resumed run cuts off the rows after them.
constexpr const char* kCheckpointFile = "checkpoint.safetensors";
constexpr const char* kMetricsFile = "metrics.csv";
constexpr const char* kRunKey = "pcplay.run";
constexpr const char* kMetricsKey = "pcplay.metrics";

// metrics.csv in a checkpoint folder: appended row by row, synced to disk
// before each checkpoint that counts its bytes.
class MetricsLog {
 public:
  MetricsLog() = default;
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  ~MetricsLog() {
    if (file_) std::fclose(file_);
  }
  // Starts the log with `text` (a header, or a resumed run's rows so far).
  void start(const std::string& path, const std::string& text) {
    write_file_atomically(path, text);
    file_ = std::fopen(path.c_str(), "ab");
    if (!file_) throw Error(path + ": cannot write (" + std::strerror(errno) + ")");
    path_ = path;
    bytes_ = text.size();
    digest_ = fnv1a(text.data(), text.size());
  }
  void append(const std::string& row) {
    if (std::fwrite(row.data(), 1, row.size(), file_) != row.size()) throw Error(path_ + ": write failed");
    bytes_ += row.size();
    digest_ = fnv1a(row.data(), row.size(), digest_);
  }
  // Flushed and on disk: what a checkpoint written next may count on.
  json synced() {
    if (std::fflush(file_) != 0 || fsync(fileno(file_)) != 0) throw Error(path_ + ": write failed");
    return {{"bytes", bytes_}, {"fnv1a", std::to_string(digest_)}};
  }
  // The rows a checkpoint counts (`counted`, as synced() gave it) from the log at `path`.
  static std::string counted_rows(const std::string& path, const json& counted) {
    const std::string text = read_file(path);
    const uint64_t bytes = counted.at("bytes").get<uint64_t>();
    if (text.size() < bytes || std::to_string(fnv1a(text.data(), bytes)) != counted.at("fnv1a").get<std::string>())
      throw Error(path + ": does not hold the metrics its checkpoint counts (changed or cut short)");
    return text.substr(0, bytes);
  }

 private:
  FILE* file_ = nullptr;
  std::string path_;
  uint64_t bytes_ = 0, digest_ = 0;
};

// What a resumed run may still be told; everything else comes from its checkpoint.
const std::vector<std::string> kResumeOptions = {"--resume", "--steps",   "--epochs", "--checkpoint", "--every",
                                                 "--metrics", "--save",   "--json",   "--quiet",      "--threads",
                                                 "--keep-going", "--data-dir", "--batches", "--mpi-timeout"};

// The settings a run is made of, as its checkpoint keeps them.
json run_settings(const TrainOptions& o, const ModelSpec& spec, long steps, uint64_t digest) {
  const OptimizerConfig& opt = o.config.optimizer;
  return {{"data", o.data},   {"data_dir", o.data_dir}, {"samples", o.samples}, {"noise", o.noise},
          {"ratio", o.ratio}, {"seed", o.seed},         {"model", o.model},     {"spec", model_json(spec)},
          {"err", err_type_name(o.config.err)},         {"eta", o.config.eta},    {"n", o.config.n},      {"tol", o.config.tol},
          {"batch", o.config.batch},
          {"compare_bp", o.config.compare_bp},          {"dtype", o.dtype},     {"steps", steps},
          {"every", o.every}, {"data_digest", std::to_string(digest)},
          {"optimizer", {{"name", optimizer_name(opt.kind)}, {"lr", opt.lr}, {"momentum", opt.momentum},
                         {"weight_decay", opt.weight_decay}}}};
}

std::string checkpoint_path(const std::string& dir) { return dir + "/" + kCheckpointFile; }
std::string metrics_path(const std::string& dir) { return dir + "/" + kMetricsFile; }

// Whether two paths name the same existing folder ("run", "run/", "./run").
bool same_folder(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// --resume DIR: reads the checkpoint and takes the run's settings from it
// (those the command line may still change excepted). Returns the checkpoint.
TensorFile take_resumed_settings(TrainOptions& o, const CLI::App& cmd) {
  for (const CLI::Option* opt : cmd.get_options())
    if (opt->count() > 0 && std::find(kResumeOptions.begin(), kResumeOptions.end(), opt->get_name()) == kResumeOptions.end())
      throw Error("--resume continues the run as its checkpoint describes it: " + opt->get_name() +
                  " cannot be given with it");
  const std::string file = checkpoint_path(o.resume);
  TensorFile checkpoint = read_safetensors(file);
  auto it = checkpoint.metadata.find(kRunKey);
  if (it == checkpoint.metadata.end()) throw Error(file + ": not a pcplay train checkpoint (no run settings)");
  try {
    const json run = json::parse(it->second);
    o.data = run.at("data").get<std::string>();
    if (cmd.count("--data-dir") == 0) o.data_dir = run.at("data_dir").get<std::string>();
    o.samples = run.at("samples").get<Index>();
    o.noise = run.at("noise").get<double>();
    o.ratio = run.at("ratio").get<double>();
    o.seed = run.at("seed").get<uint64_t>();
    o.model = run.at("model").get<std::string>();
    o.config.err = parse_err_type(run.at("err").get<std::string>());
    o.config.eta = run.at("eta").get<double>();
    o.config.n = run.at("n").get<int>();
    o.config.tol = run.value("tol", 0.0);  // (checkpoints from before the stopping rule have none)
    o.config.batch = run.at("batch").get<Index>();
    o.config.compare_bp = run.at("compare_bp").get<bool>();
    o.dtype = run.at("dtype").get<std::string>();
    if (o.dtype != "float32" && o.dtype != "float64") throw Error("dtype \"" + o.dtype + "\" is not float32 or float64");
    if (!o.steps_given) o.steps = run.at("steps").get<long>();
    if (cmd.count("--every") == 0) o.every = run.at("every").get<long>();
    const json& opt = run.at("optimizer");
    o.config.optimizer.kind = parse_optimizer(opt.at("name").get<std::string>());
    o.config.optimizer.lr = opt.at("lr").get<double>();
    o.config.optimizer.momentum = opt.at("momentum").get<double>();
    o.config.optimizer.weight_decay = opt.at("weight_decay").get<double>();
    o.resumed_spec = run.at("spec").get<std::string>();
    o.resumed_digest = run.at("data_digest").get<std::string>();
  } catch (const json::exception& e) {
    throw Error(file + ": its run settings are malformed (" + e.what() + ")");
  }
  if (o.checkpoint.empty()) o.checkpoint = o.resume;
  return checkpoint;
}

// A checkpoint folder, written as the run goes: the trainer's state with the
// run's settings, renewed every --every steps, at the end, and never after a
// divergence; and metrics.csv, every step's row.
template <typename T>
class CheckpointFolder {
 public:
  CheckpointFolder(std::string dir, json run) : dir_(std::move(dir)), run_(std::move(run)) {}
  bool enabled() const { return !dir_.empty(); }
  long last_step() const { return last_step_; }  // of the last checkpoint written (-1: none)

  // Made at once, so that a folder that cannot be written fails now, not after
  // hours. A new run may not take a folder that holds another run's
  // checkpoint; `resumed_from` is the folder a resumed run came from.
  void open(Trainer<T>& trainer, const std::string& metrics_so_far, const std::string& resumed_from) {
    if (!enabled()) return;
    if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST)
      throw Error(dir_ + ": cannot create the folder (" + std::strerror(errno) + ")");
    struct stat existing;
    if (!(!resumed_from.empty() && same_folder(dir_, resumed_from)) && ::stat(checkpoint_path(dir_).c_str(), &existing) == 0)
      throw Error(dir_ + " already holds a run's checkpoint: continue it with --resume " + dir_ +
                  ", or choose another folder");
    log_.start(metrics_path(dir_), metrics_so_far);
    save(trainer);
  }
  void append(const std::string& row) {
    if (enabled()) log_.append(row);
  }
  void save(Trainer<T>& trainer) {
    TensorFile file = trainer.checkpoint();
    file.metadata[kRunKey] = run_.dump();
    file.metadata[kMetricsKey] = log_.synced().dump();
    write_safetensors(checkpoint_path(dir_), file);
    last_step_ = trainer.steps();
  }

 private:
  std::string dir_;
  json run_;
  MetricsLog log_;
  long last_step_ = -1;
};

// --resume: the checkpoint's state into `trainer`; returns the metrics rows
// it counts (the header included), checked against the folder's metrics.csv.
template <typename T>
std::string restore_run(Trainer<T>& trainer, const TensorFile& resumed, const std::string& dir, long steps,
                        const std::string& header) {
  const std::string file = checkpoint_path(dir), log_file = metrics_path(dir);
  try {
    trainer.restore(resumed);
  } catch (const Error& e) {
    throw with_context(file, e);
  }
  auto counted = resumed.metadata.find(kMetricsKey);
  if (counted == resumed.metadata.end()) throw Error(file + ": it counts no rows of " + log_file);
  if (steps < trainer.steps())
    throw Error("the run is at step " + std::to_string(trainer.steps()) + " already: --steps or --epochs must give at "
                "least as many");
  try {
    const std::string rows = MetricsLog::counted_rows(log_file, json::parse(counted->second));
    if (static_cast<long>(std::count(rows.begin(), rows.end(), '\n')) - 1 != trainer.steps() ||
        rows.compare(0, header.size(), header) != 0)
      throw Error(log_file + ": its rows do not match the checkpoint's " + std::to_string(trainer.steps()) + " steps");
    return rows;
  } catch (const json::exception& e) {
    throw Error(file + ": its count of " + log_file + " is malformed (" + e.what() + ")");
  }
}

// The data, and the model for it: a new run's from the options, a resumed
// run's from its checkpoint (which must have been made on the same data).
std::pair<DataSplit, ModelSpec> run_data_and_model(const TrainOptions& o) {
  DataOptions data_options;
  data_options.data_dir = o.data_dir;
  data_options.samples = o.samples;
  data_options.noise = o.noise;
  data_options.train_ratio = o.ratio;
  data_options.seed = o.seed;
  DataSplit data = load_data(o.data, data_options);
  if (!o.resume.empty()) {
    const std::string file = checkpoint_path(o.resume);
    if (o.resumed_digest != std::to_string(data_digest(data)))
      throw Error(file + ": the data \"" + o.data + "\" is not the data this run was trained on");
    return {std::move(data), parse_model_json(o.resumed_spec, file + " (its model)")};
  }
  ModelSpec spec = model_for_data(o.model, data.train.sample_shape, data.train.num_classes);
  if (!o.loss.empty()) spec.loss = parse_loss(o.loss);
  return {std::move(data), spec};
}

// "[#########.........]  450/1000  812 steps/s  ETA 0.7 s  loss 0.1234" on a
// terminal's stderr, at most 10 times a second.
class Progress {
 public:
  Progress(bool shown, long first, long total) : shown_(shown), first_(first), total_(total) {}
  void step(long done, double loss) {
    const double now = seconds();
    if (!shown_ || (now - last_draw_ < 0.1 && done != total_)) return;
    last_draw_ = now;
    const long made = done - first_, to_make = total_ - first_;
    const int width = 24, filled = to_make > 0 ? static_cast<int>(width * made / to_make) : width;
    const double rate = now > 0 ? made / now : 0, eta = rate > 0 ? (to_make - made) / rate : 0;
    std::fprintf(stderr, "\r[%s%s] %ld/%ld  %.0f steps/s  ETA %.1f s  loss %.4g   ", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), made, to_make, rate, eta, loss);
    std::fflush(stderr);
  }
  void end() {
    if (shown_) std::fprintf(stderr, "\n");
  }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  bool shown_;
  long first_, total_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  double last_draw_ = -1;
};

// What the loop saw: where it started, the last step, and the diverged steps
// it skipped (--keep-going gives up after kMaxSkippedInARow in a row).
struct LoopOutcome {
  static constexpr long kMaxSkippedInARow = 10;
  long first_step = 0;
  StepMetrics last;
  long skipped = 0, skipped_in_a_row = 0;
  long steps = 0, iterations = 0;  // steps made here, and their inference iterations
  std::string last_divergence;
  double seconds = 0;
  bool stopped() const { return last.diverged; }  // kept diverging (or --keep-going was not given)
};

// The summary (one line, or JSON) and the warnings; the exit code.
template <typename T>
int report(const TrainOptions& o, Trainer<T>& trainer, const LoopOutcome& run, const CheckpointFolder<T>& folder) {
  const Evaluation train = trainer.evaluate(trainer.data().train), test = trainer.evaluate(trainer.data().test);
  json summary = {{"data", o.data},
                  {"model", o.model.empty() ? "default" : o.model},
                  {"err", err_type_name(o.config.err)},
                  {"eta", o.config.eta},
                  {"n", o.config.n},
                  {"tol", o.config.tol},
                  // Per step, over the steps this run made (n each without the stopping rule).
                  {"mean_iterations", run.steps ? static_cast<double>(run.iterations) / run.steps : 0.0},
                  {"steps", trainer.steps()},
                  {"epochs", trainer.epoch()},
                  {"train_loss", train.loss},
                  {"test_loss", test.loss},
                  {"train_accuracy", train.accuracy},
                  {"test_accuracy", test.accuracy},
                  {"seconds", run.seconds},
                  {"energy_rose_steps", trainer.energy_rose_steps()},
                  {"diverged", run.stopped()},
                  {"skipped_steps", run.skipped}};
  if (!o.resume.empty()) summary["resumed_at_step"] = run.first_step;
  if (o.config.compare_bp && !run.stopped()) {
    const Evaluation bp_test = trainer.evaluate(trainer.data().test, true);
    summary["bp_test_loss"] = bp_test.loss;
    summary["bp_test_accuracy"] = bp_test.accuracy;
  }
  if (o.job) summary["ranks"] = o.job->size();
  if (!o.leader()) return run.stopped() ? kExitDiverged : 0;  // (the evaluations above are shared)
  if (o.json)
    std::printf("%s\n", summary.dump().c_str());
  else if (!o.quiet)
    std::printf("%ld steps in %.2f s: train loss %.4g, accuracy %.3f; test loss %.4g, accuracy %.3f\n",
                trainer.steps(), run.seconds, train.loss, train.accuracy, test.loss, test.accuracy);
  if (run.stopped()) {
    std::string line = run.last.divergence;
    if (run.skipped_in_a_row >= LoopOutcome::kMaxSkippedInARow)
      line = "gave up after " + std::to_string(LoopOutcome::kMaxSkippedInARow) + " diverged steps in a row; the last " + line;
    if (folder.last_step() >= 0)
      line += "; the last good checkpoint, of step " + std::to_string(folder.last_step()) + ", is in " + o.checkpoint;
    std::fprintf(stderr, "pcplay train: %s\n", line.c_str());
    return kExitDiverged;
  }
  if (run.skipped > 0 && !o.quiet)
    std::fprintf(stderr, "pcplay train: warning: skipped %ld diverged steps (--keep-going); the last %s\n", run.skipped,
                 run.last_divergence.c_str());
  else if (trainer.energy_rose_steps() > 0 && !o.quiet)
    std::fprintf(stderr,
                 "pcplay train: warning: the energy rose during inference in %ld of %ld steps: eta is too "
                 "large for these weights there, and those steps' gradients are far from backprop's\n",
                 trainer.energy_rose_steps(), trainer.steps());
  return 0;
}

// A file the run writes as it goes (none, closed, when `path` is empty).
std::ofstream open_output(const std::string& path) {
  std::ofstream out;
  if (path.empty()) return out;
  out.open(path);
  if (!out) throw Error(path + ": cannot write");
  return out;
}

// The whole run, as llm.c's loop: a batch, a step, its row, a checkpoint.
template <typename T>
int run_train(TrainOptions o, const TensorFile* resumed) {
  o.config.seed = o.seed;
  if (o.every < 1) throw Error("--every must be at least 1");
  auto [data, spec] = run_data_and_model(o);
  const uint64_t digest = data_digest(data);
  std::unique_ptr<Model<T>> initial;
  if (!o.init.empty()) {
    initial = std::make_unique<Model<T>>(spec);
    try {
      load_parameters(*initial, read_safetensors(o.init));
    } catch (const Error& e) {
      throw with_context(o.init, e);
    }
  }
  Trainer<T> trainer(spec, std::move(data), o.config, initial.get());
  if (o.job) {
    o.job->set_timeout(o.mpi_timeout);
    trainer.share_with(o.job);
  }
  const Index depth = trainer.model().depth();
  const bool bp = o.config.compare_bp;
  const long steps = o.epochs > 0 ? static_cast<long>(std::ceil(
                                        o.epochs * std::ceil(static_cast<double>(trainer.data().train.size()) / o.config.batch)))
                                  : o.steps;
  if (steps < 1) throw Error("--steps (or --epochs) must give at least one step");

  std::string metrics_so_far = metrics_csv_header(depth, bp);  // a resumed run's rows, or just the header
  if (resumed) metrics_so_far = restore_run(trainer, *resumed, o.resume, steps, metrics_so_far);
  // Rank 0 writes every file.
  CheckpointFolder<T> folder(o.leader() ? o.checkpoint : "", run_settings(o, spec, steps, digest));
  folder.open(trainer, metrics_so_far, o.resume);
  std::ofstream csv = open_output(o.leader() ? o.metrics : ""), batches = open_output(o.leader() ? o.batches : "");
  if (csv.is_open()) csv << metrics_so_far;

  LoopOutcome run;
  run.first_step = trainer.steps();
  Progress progress(o.leader() && !o.quiet && !o.json && isatty(STDERR_FILENO), trainer.steps(), steps);
  while (trainer.steps() < steps) {
    run.last = trainer.step();
    if (run.last.diverged) {
      run.last_divergence = run.last.divergence;
      if (!o.keep_going || ++run.skipped_in_a_row >= LoopOutcome::kMaxSkippedInARow) break;
      ++run.skipped;
      trainer.skip_diverged_step();
      continue;
    }
    run.skipped_in_a_row = 0;
    ++run.steps;
    run.iterations += run.last.iterations;
    const std::string row = metrics_csv_row(run.last, depth, bp);
    folder.append(row);
    if (csv.is_open()) csv << row << std::flush;
    if (batches.is_open()) {
      batches << trainer.steps();
      for (Index i : trainer.batch_indices()) batches << ',' << i;
      batches << '\n';
    }
    if (trainer.steps() % o.every == 0) {
      trainer.check_processes_agree();  // (under mpirun: every rank still holds the same run)
      if (folder.enabled()) folder.save(trainer);
    }
    progress.step(trainer.steps(), run.last.train.loss);
  }
  progress.end();
  run.seconds = progress.seconds();
  csv.close();
  batches.close();
  if (folder.enabled() && !run.stopped() && folder.last_step() != trainer.steps()) folder.save(trainer);
  if (!o.save.empty() && o.leader()) {  // the last good weights, also after a divergence
    TensorFile weights;
    store_parameters(trainer.model(), weights);
    write_safetensors(o.save, weights);
  }
  return report(o, trainer, run, folder);
}

struct InitOptions {
  std::string model, out, dtype = "float32";
  uint64_t seed = 1;
};

template <typename T>
int run_init(const InitOptions& o) {
  Model<T> model(resolve_model(o.model));
  model.init(o.seed);
  TensorFile wf;
  store_parameters(model, wf);
  write_safetensors(o.out, wf);
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& app, MpiJob* job) {
  auto o = std::make_shared<TrainOptions>();
  o->job = job;
  CLI::App* cmd = app.add_subcommand("train", "Train a model with predictive coding (Strict, FixedPred, ePC, iPC) or backprop");
  cmd->add_option("--data", o->data,
                  "Data: " + name_list(names_of(named_datasets())) + ", a folder of IDX files or a CSV file "
                  "(features, then an integer label)")
      ->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir, "Where mnist and fashion-mnist are (made by scripts/setup.sh)")
      ->capture_default_str();
  cmd->add_option("--noise", o->noise, "Toy data noise")->check(CLI::Range(0.0, 0.5))->capture_default_str();
  cmd->add_option("--samples", o->samples, "Toy data samples")->check(CLI::Range(4, 10000000))->capture_default_str();
  cmd->add_option("--ratio", o->ratio, "Share of toy or CSV data used for training")->check(CLI::Range(0.01, 0.99))
      ->capture_default_str();
  cmd->add_option("--model", o->model,
                  "Model file (JSON), built-in (" + model_preset_list() +
                      "), a dense net dense:W1,W2,...:ACTIVATION, a residual MLP in μPC's parameterisation "
                      "mupc:WIDTH,DEPTH[:ACTIVATION] or the standard one resmlp:WIDTH,DEPTH[:ACTIVATION] (default: "
                      "one that fits the data)");
  cmd->add_option("--loss", o->loss, "Override the model's loss")->check(CLI::IsMember(names_of(loss_kinds())));
  add_inference_options(cmd, o->config.err, o->config.eta, o->config.n);
  cmd->add_option("--tol", o->config.tol,
                  "Stopping rule: end a step's relaxation once its step is this fraction of its first (0: always n)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  add_choice(cmd, "--optimizer", o->config.optimizer.kind, optimizer_kinds(), "Optimizer");
  cmd->add_option("--lr", o->config.optimizer.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--momentum", o->config.optimizer.momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--weight-decay", o->config.optimizer.weight_decay, "L2 weight decay")->capture_default_str();
  cmd->add_option("--batch", o->config.batch, "Batch size")->check(CLI::PositiveNumber)->capture_default_str();
  add_threads_option(cmd, o->config.threads);
  auto* steps = cmd->add_option("--steps", o->steps, "Training steps (batches)")->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Train for this many epochs instead of --steps")
      ->check(CLI::PositiveNumber)
      ->excludes(steps);
  cmd->add_option("--seed", o->seed, "Seed of the data, the initial weights and the batch order")
      ->capture_default_str();
  add_dtype_option(cmd, o->dtype);
  cmd->add_flag("--compare-bp", o->config.compare_bp,
                "Also compute backprop's gradient each step (relative error, angle) and train a backprop twin");
  cmd->add_option("--metrics", o->metrics, "Write per-step metrics to this CSV file");
  cmd->add_option("--batches", o->batches,
                  "Write each step's training samples to this CSV file, a line per step made: the step, then the "
                  "samples' indices in the training set (an IDX folder's file order), in batch order");
  cmd->add_option("--init", o->init, "Start from these weights (safetensors) instead of a seeded init");
  cmd->add_option("--save", o->save, "Save the final weights (safetensors)");
  cmd->add_flag("--json", o->json, "Print a one-line JSON summary");
  cmd->add_flag("--quiet", o->quiet, "No progress bar or summary line");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Keep a checkpoint in this folder (weights, optimizer and generator state, metrics so far), "
                  "renewed every --every steps, at the end, and never after a divergence");
  cmd->add_option("--every", o->every, "Steps between checkpoints")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--resume", o->resume,
                  "Continue the run checkpointed in this folder, exactly as it would have gone on (to its --steps, "
                  "or to a new --steps or --epochs total)");
  cmd->add_option("--mpi-timeout", o->mpi_timeout,
                  "Under mpirun: end the job when a rank has not reached a step's exchange after this many seconds "
                  "(it hung)")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  cmd->add_flag("--keep-going", o->keep_going,
                "After a step diverges, skip it (the weights stay as they were) and go on with the next batch; "
                "give up after 10 in a row");
  return [o, cmd] {
    o->steps_given = cmd->count("--steps") + cmd->count("--epochs") > 0;
    TensorFile resumed;
    if (!o->resume.empty()) resumed = take_resumed_settings(*o, *cmd);
    const TensorFile* from = o->resume.empty() ? nullptr : &resumed;
    // Ranks on one machine share its cores unless told.
    if (o->job && o->config.threads == 0)
      o->config.threads = o->job->threads_per_rank();
    return o->dtype == "float64" ? run_train<double>(*o, from) : run_train<float>(*o, from);
  };
}

Command add_init_command(CLI::App& app) {
  auto o = std::make_shared<InitOptions>();
  CLI::App* cmd = app.add_subcommand("init", "Write freshly initialised weights (PyTorch's default init) for a model");
  cmd->add_option("--model", o->model, "Model file (JSON) or built-in: " + model_preset_list())->required();
  cmd->add_option("--seed", o->seed, "Seed")->capture_default_str();
  add_dtype_option(cmd, o->dtype);
  cmd->add_option("--out", o->out, "Output (safetensors)")->required();
  return [o] { return o->dtype == "float64" ? run_init<double>(*o) : run_init<float>(*o); };
}

}  // namespace pcplay::cli
