// The training loop: data, batches, divergence, the backprop twin.
#include <doctest/doctest.h>

#include "error.h"
#include "memory.h"
#include "model_file.h"
#include "trainer.h"

using namespace pcplay;

TEST_CASE("toy data sets are reproducible from their seed and split by the ratio") {
  int toys = 0;
  for (const Named<DataOrigin>& set : named_datasets()) {
    if (set.value != DataOrigin::Generated) continue;
    ++toys;
    const std::string name = set.name;  // (clang 14: no lambda captures of a structured binding, as CAPTURE makes)
    CAPTURE(name);
    DataSplit a = make_toy_data({name, 200, 0.1, 0.7, 5}), b = make_toy_data({name, 200, 0.1, 0.7, 5});
    DataSplit c = make_toy_data({name, 200, 0.1, 0.7, 6});
    CHECK(a.train.size() == 140);
    CHECK(a.test.size() == 60);
    CHECK(a.train.x == b.train.x);
    CHECK(a.train.x != c.train.x);
    long ones = 0;
    for (auto l : a.train.labels) ones += l;
    CHECK(ones > 30);  // both classes present
    CHECK(ones < 110);
  }
  CHECK(toys == 4);
  CHECK_THROWS_WITH_AS(make_toy_data({"moons", 200, 0, 0.5, 1}),
                       "unknown data set \"moons\" (expected circle, xor, gauss or spiral)", Error);
  CHECK_THROWS_AS(make_toy_data({"xor", 200, 0.9, 0.5, 1}), Error);
}

TEST_CASE("with err = exact and compare_bp, the model and its backprop twin stay identical") {
  TrainConfig config;
  config.err = ErrType::Exact;
  config.compare_bp = true;
  config.optimizer.lr = 0.01;
  Trainer<double> trainer(model_preset("mlp-2d"), make_toy_data({"xor", 200, 0, 0.5, 1}), config);
  for (int i = 0; i < 20; ++i) {
    StepMetrics m = trainer.step();
    CHECK(m.train.loss == m.bp_train.loss);
    CHECK(m.test.loss == m.bp_test.loss);
    REQUIRE(m.agreement.size() == 3);
    for (const auto& a : m.agreement) CHECK(a.rel_error == 0);
  }
  CHECK(trainer.steps() == 20);
}

TEST_CASE("epochs count passes over the training set") {
  TrainConfig config;
  config.batch = 30;
  Trainer<float> trainer(model_preset("mlp-2d"), make_toy_data({"circle", 200, 0, 0.5, 1}), config);
  StepMetrics m;
  for (int i = 0; i < 4; ++i) m = trainer.step();  // 100 samples: 30 + 30 + 30 + 10
  CHECK(m.epoch == doctest::Approx(1.0));
  m = trainer.step();
  CHECK(m.epoch == doctest::Approx(1.3));
}

TEST_CASE("a run whose values become non-finite stops before the update and says where") {
  // FixedPred's errors grow like |1 − η|^n for η > 2: Inf within the first step.
  TrainConfig config;
  config.eta = 3.0;
  config.n = 500;
  Trainer<float> trainer(model_preset("mlp-2d"), make_toy_data({"spiral", 200, 0, 0.5, 1}), config);
  auto before = trainer.model().parameters()[0].param->value;
  StepMetrics m = trainer.step();
  REQUIRE(m.diverged);
  CHECK(trainer.diverged());
  CHECK(m.divergence.find("diverged at step 1: eps_") == 0);
  CHECK(m.divergence.find("non-finite") != std::string::npos);
  trainer.step();
  CHECK(trainer.steps() == 0);  // stays stopped
  CHECK((trainer.model().parameters()[0].param->value.array() == before.array()).all());  // the last good weights
}

TEST_CASE("a Strict step whose energy rises is reported, and the run goes on") {
  TrainConfig config;
  config.err = ErrType::Strict;
  config.eta = 1.0;
  Trainer<float> trainer(model_preset("mlp-2d-deep"), make_toy_data({"spiral", 200, 0, 0.5, 1}), config);
  StepMetrics m = trainer.step();
  CHECK(m.energy_rose);
  CHECK_FALSE(m.diverged);
  trainer.step();
  CHECK(trainer.steps() == 2);
  CHECK(trainer.energy_rose_steps() == 2);
  // At a step size that converges on these weights it does not rise.
  config.eta = 0.05;
  Trainer<float> calm(model_preset("mlp-2d-deep"), make_toy_data({"spiral", 200, 0, 0.5, 1}), config);
  CHECK_FALSE(calm.step().energy_rose);
}

TEST_CASE("the learning rate can change mid-run") {
  TrainConfig config;
  Trainer<float> trainer(model_preset("mlp-2d"), make_toy_data({"gauss", 100, 0, 0.5, 1}), config);
  trainer.step();
  trainer.set_learning_rate(0.5);
  CHECK(trainer.config().optimizer.lr == 0.5);
  CHECK_THROWS_AS(trainer.set_learning_rate(-1), Error);
  trainer.step();
  CHECK(trainer.steps() == 2);
}

TEST_CASE("a model that does not fit the data is refused") {
  ModelSpec spec = model_preset("mlp-2d");
  spec.input_shape = {3};
  CHECK_THROWS_WITH_AS(Trainer<float>(spec, make_toy_data({"xor", 100, 0, 0.5, 1}), TrainConfig{}),
                       doctest::Contains("model takes"), Error);
}

TEST_CASE("a step in stages, one inference iteration at a time, is exactly one step()") {
  TrainConfig config;
  config.err = ErrType::Strict;
  config.n = 7;
  config.compare_bp = true;
  const DataSplit data = make_toy_data({"spiral", 120, 0.1, 0.5, 3});
  Trainer<double> whole(model_preset("mlp-2d"), data, config), staged(model_preset("mlp-2d"), data, config);
  for (int s = 0; s < 3; ++s) {
    const StepMetrics a = whole.step();
    staged.begin_step();
    REQUIRE(staged.relaxation() != nullptr);
    int iterations = 0;
    while (!staged.relax(1)) {
      ++iterations;
      CHECK(staged.relaxation()->iterations() == iterations);
    }
    CHECK(staged.relaxation()->iterations() == 7);
    const StepMetrics b = staged.finish_step();
    CHECK(staged.relaxation() == nullptr);
    CHECK(a.train.loss == b.train.loss);
    CHECK(a.test.loss == b.test.loss);
    REQUIRE(b.sweeps.size() == 7);
    CHECK(a.sweeps.back().energy == b.sweeps.back().energy);
    CHECK(a.agreement[0].rel_error == b.agreement[0].rel_error);
  }
  auto pa = whole.model().parameters(), pb = staged.model().parameters();
  for (size_t i = 0; i < pa.size(); ++i) CHECK((pa[i].param->value.array() == pb[i].param->value.array()).all());
}

// Random images for the paper's MNIST CNN, and a dense net wide enough that
// every layer's work is split across threads.
DataSplit random_images(Index count, uint64_t seed) {
  Rng rng(seed);
  DataSplit d;
  for (Dataset* set : {&d.train, &d.test}) {
    set->sample_shape = {1, 28, 28};
    set->num_classes = 10;
    for (Index i = 0; i < count * 784; ++i) set->x.push_back(rng.uniform(0, 1) < 0.8 ? 0.0f : float(rng.uniform(0, 1)));
    for (Index i = 0; i < count; ++i) set->labels.push_back(static_cast<int64_t>(rng.below(10)));
  }
  return d;
}

// Every parameter's values, to compare runs bit for bit.
template <typename T>
std::vector<std::vector<T>> weights(Trainer<T>& trainer) {
  std::vector<std::vector<T>> values;
  for (const NamedParam<T>& p : trainer.model().parameters())
    values.emplace_back(p.param->value.data(), p.param->value.data() + p.param->value.size());
  return values;
}

// Strict and ePC relax each thread's share of the rows on its own thread;
// the stopping rule (tol) decides on the whole batch's step at every
// iteration, so the step at which it stops must not depend on the split.
template <typename T>
std::vector<std::vector<T>> train_with_threads(const ModelSpec& spec, const DataSplit& data, ErrType err, int threads,
                                               double tol = 0) {
  TrainConfig config;
  config.err = err;
  config.n = tol > 0 ? 12 : 5;
  config.tol = tol;
  config.batch = 150;
  config.compare_bp = true;
  config.threads = threads;
  Trainer<T> trainer(spec, data, config);
  for (int s = 0; s < 2; ++s) REQUIRE_FALSE(trainer.step().diverged);
  return weights(trainer);
}

TEST_CASE("training gives the same weights, bit for bit, on 1, 2 or 3 threads") {
  const DataSplit data = random_images(300, 11);
  ModelSpec dense = dense_model("dense:200,70:tanh", {1, 28, 28}, 10);
  for (const ModelSpec& spec : {model_preset("paper-mnist"), dense})
    for (ErrType err : {ErrType::FixedPred, ErrType::Strict, ErrType::Exact, ErrType::ErrorBased,
                        ErrType::Incremental}) {
      CAPTURE(err_type_name(err));
      const auto one = train_with_threads<float>(spec, data, err, 1);
      CHECK(train_with_threads<float>(spec, data, err, 2) == one);
      CHECK(train_with_threads<float>(spec, data, err, 3) == one);
    }
  for (ErrType err : {ErrType::Strict, ErrType::ErrorBased}) {
    CAPTURE(err_type_name(err));
    const auto one = train_with_threads<float>(dense, data, err, 1, 0.3);
    CHECK(train_with_threads<float>(dense, data, err, 2, 0.3) == one);
    CHECK(train_with_threads<float>(dense, data, err, 3, 0.3) == one);
  }
  CHECK(train_with_threads<double>(dense, data, ErrType::Strict, 3) == train_with_threads<double>(dense, data, ErrType::Strict, 1));
}

// Each step's losses and accuracies, as the metrics CSV has them.
std::vector<double> curve(const StepMetrics& m) {
  std::vector<double> c = {static_cast<double>(m.step), m.epoch, m.train.loss, m.train.accuracy, m.test.loss,
                           m.test.accuracy, m.bp_train.loss, m.bp_test.loss};
  for (const auto& a : m.agreement) c.push_back(a.rel_error);
  return c;
}

TEST_CASE("a run restored from a checkpoint goes on bit for bit as the run it was taken from") {
  const DataSplit data = make_toy_data({"spiral", 90, 0.05, 0.5, 3});  // 45 training samples: epochs of 3 batches
  for (const char* optimizer : {"adam", "sgd"}) {
    CAPTURE(optimizer);
    TrainConfig config;
    config.err = ErrType::Strict;
    config.n = 5;
    config.batch = 16;
    config.compare_bp = true;
    config.optimizer.kind = parse_optimizer(optimizer);
    config.optimizer.lr = 0.01;
    config.optimizer.momentum = std::string(optimizer) == "sgd" ? 0.9 : 0;
    Trainer<float> whole(model_preset("mlp-2d"), data, config);
    std::vector<std::vector<double>> expected;
    std::string saved;
    for (int s = 0; s < 8; ++s) {
      if (s == 4) saved = serialize_safetensors(whole.checkpoint());  // in the middle of the second epoch
      expected.push_back(curve(whole.step()));
    }
    Trainer<float> resumed(model_preset("mlp-2d"), data, config);  // fresh: other weights, batches, generator
    resumed.step();
    resumed.restore(parse_safetensors(saved, "checkpoint"));
    CHECK(resumed.steps() == 4);
    for (int s = 4; s < 8; ++s) CHECK(curve(resumed.step()) == expected[s]);
    CHECK(weights(resumed) == weights(whole));
    // Everything the run carries, tensors and metadata, is as in the run it came from.
    CHECK(serialize_safetensors(resumed.checkpoint()) == serialize_safetensors(whole.checkpoint()));
  }
}

TEST_CASE("restore() brings back every counter: a checkpoint taken right after it is the one restored") {
  const DataSplit data = make_toy_data({"spiral", 90, 0.05, 0.5, 3});
  TrainConfig config;
  config.err = ErrType::Strict;
  config.eta = 1.0;  // too large: Strict's energy rises in these relaxations
  config.n = 20;
  config.batch = 16;
  Trainer<double> first(model_preset("mlp-2d"), data, config);
  for (int s = 0; s < 5; ++s) first.step();
  REQUIRE_FALSE(first.diverged());
  REQUIRE(first.energy_rose_steps() > 0);
  const std::string saved = serialize_safetensors(first.checkpoint());
  Trainer<double> second(model_preset("mlp-2d"), data, config);
  second.restore(parse_safetensors(saved, "checkpoint"));
  CHECK(second.energy_rose_steps() == first.energy_rose_steps());
  CHECK(second.steps() == 5);
  CHECK(second.epoch() == first.epoch());
  CHECK(serialize_safetensors(second.checkpoint()) == saved);
}

// Toy sets fit in one chunk: this one is 2.6 chunks, of unequal sizes, so a
// mean of chunk means would differ from the mean over the samples.
TEST_CASE("evaluate() is the mean over every sample of a set larger than its chunks") {
  const DataSplit data = make_toy_data({"spiral", 3000, 0.1, 0.9, 4});
  REQUIRE(data.train.size() > 2 * Trainer<double>::kEvaluationChunk);
  REQUIRE(data.train.size() % Trainer<double>::kEvaluationChunk != 0);
  TrainConfig config;
  config.batch = 64;
  Trainer<double> trainer(model_preset("mlp-2d"), data, config);
  for (int s = 0; s < 20; ++s) trainer.step();
  std::vector<Index> all(static_cast<size_t>(data.train.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<Index>(i);
  Tensor<double> x;
  std::vector<int64_t> labels;
  gather_batch(data.train, all.data(), data.train.size(), x, labels);
  const Model<double>& model = trainer.model();
  const Targets<double> y = targets_from_labels<double>(model.loss(), labels, model.output_shape()[0]);
  const Tensor<double> yhat = model.predict(x);
  const Evaluation e = trainer.evaluate(data.train);
  CHECK(e.loss == doctest::Approx(loss_value(model.loss(), yhat, y)).epsilon(1e-12));
  CHECK(e.accuracy == doctest::Approx(accuracy(yhat, y)).epsilon(1e-12));
  CHECK(e.accuracy > 0.55);  // it learned something, so that the chunks differ
}

TEST_CASE("a checkpoint that does not fit the run is refused, and the run is left as it was") {
  const DataSplit data = make_toy_data({"xor", 60, 0, 0.5, 1});
  TrainConfig config;
  Trainer<float> trainer(model_preset("mlp-2d"), data, config);
  trainer.step();
  const TensorFile good = trainer.checkpoint();
  const auto before = weights(trainer);
  auto refuses = [&](const TensorFile& file, const char* what) {
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(trainer.restore(file), doctest::Contains(what), Error);
    CHECK(weights(trainer) == before);
    CHECK(trainer.steps() == 1);
  };
  refuses(TensorFile(), "not a pcplay checkpoint");
  TensorFile other_model;
  {
    Trainer<float> deep(model_preset("mlp-2d-deep"), data, config);
    other_model = deep.checkpoint();
  }
  refuses(other_model, "has shape [16, 16] but the model needs [2, 16]");
  TensorFile bad = good;
  bad.tensors["trainer.order"] = store_labels({0, 1, 1});
  refuses(bad, "covers 3 samples");
  bad = good;
  bad.metadata["pcplay.trainer"] = "{\"format\": 1}";
  refuses(bad, "metadata is malformed");
  bad = good;
  bad.tensors.erase("optimizer.exp_avg.0.0.weight");
  refuses(bad, "exp_avg");
  config.compare_bp = true;
  Trainer<float> with_twin(model_preset("mlp-2d"), data, config);
  CHECK_THROWS_WITH_AS(with_twin.restore(good), doctest::Contains("without --compare-bp"), Error);
  Trainer<double> in_double(model_preset("mlp-2d"), data, TrainConfig());
  CHECK_THROWS_WITH_AS(in_double.restore(good), doctest::Contains("holds F32 weights, not F64"), Error);
}

TEST_CASE("a diverged step can be skipped: the run goes on from the weights and optimizer state before it") {
  TrainConfig config;
  config.err = ErrType::Exact;
  config.optimizer.kind = OptimizerKind::SGD;
  config.optimizer.lr = 1e39;  // finite gradients, an update that overflows float
  Trainer<float> trainer(model_preset("mlp-2d"), make_toy_data({"spiral", 200, 0, 0.5, 1}), config);
  const auto before = weights(trainer);
  StepMetrics m = trainer.step();
  REQUIRE(m.diverged);
  CHECK(m.divergence.find("the update made") != std::string::npos);
  CHECK(weights(trainer) == before);
  trainer.skip_diverged_step();
  CHECK_FALSE(trainer.diverged());
  trainer.set_learning_rate(0.01);
  m = trainer.step();
  CHECK_FALSE(m.diverged);
  CHECK(m.step == 1);
  CHECK(weights(trainer) != before);
}

TEST_CASE("a run that would not fit in memory is refused up front, with the size it needs") {
  CHECK(bytes_str(512) == "512 bytes");
  CHECK(bytes_str(uint64_t(3) << 29) == "1.5 GiB");
  CHECK(bytes_str(uint64_t(320) << 20) == "320 MiB");
  CHECK_THROWS_WITH_AS(check_memory(uint64_t(3) << 29, "this", uint64_t(512) << 20),
                       "this needs about 1.5 GiB, more than the 512 MiB available", Error);
  CHECK_NOTHROW(check_memory(uint64_t(1) << 20, "this", uint64_t(2) << 20));
  CHECK(memory_available() > (uint64_t(16) << 20));

  // Four layers of 2048 on a batch of 10^6 points: about 160 GiB of activations.
  const DataSplit data = make_toy_data({"gauss", 2000000, 0, 0.5, 1});
  const ModelSpec wide = dense_model("dense:2048,2048,2048,2048:relu", {2}, 2);
  TrainConfig config;
  config.batch = 1000000;
  const uint64_t needed = training_bytes(Model<float>(wide), config, config.batch);
  CHECK(needed > (uint64_t(150) << 30));
  const std::string expected =
      "training this model (12599298 parameters) on batches of 1000000 needs about " + bytes_str(needed) + ", more than the";
  CHECK_THROWS_WITH_AS(Trainer<float>(wide, data, config), doctest::Contains(expected.c_str()), Error);
  config.batch = 64;  // the same model on small batches fits
  CHECK(training_bytes(Model<float>(wide), config, config.batch) < (uint64_t(1) << 30));
}
