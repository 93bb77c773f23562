// After Torch2PC: ePC, iPC, μPC's model and the stopping rule, against the
// properties docs/algorithms.md states for them.
#include <doctest/doctest.h>

#include "diagnostics.h"
#include "helpers.h"
#include "model_file.h"
#include "pc_infer.h"
#include "trainer.h"

using namespace pcplay;
using namespace pcplay::test;

namespace {

Problem dense_problem(const std::vector<Index>& widths, LossKind loss, uint64_t seed = 5, Index batch = 12) {
  Model<double> model(dense_spec(widths, "tanh", loss));
  model.init(seed);
  Rng rng(seed + 1);
  Tensor<double> X = random_tensor<double>({batch, widths[0]}, rng);
  return {std::move(model), std::move(X), random_targets<double>(loss, batch, widths.back(), rng)};
}

double max_relative_difference(const std::vector<Tensor<double>>& a, const std::vector<Tensor<double>>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, relative_difference(a[i], b[i]));
  return worst;
}

std::vector<Tensor<double>> weights_of(Model<double>& model) {
  std::vector<Tensor<double>> w;
  for (const NamedParam<double>& p : model.parameters()) w.push_back(p.param->value);
  return w;
}

DataSplit toy_split(Index dims, Index classes, uint64_t seed) {
  Rng rng(seed);
  auto make = [&](Index count) {
    Dataset d;
    d.sample_shape = {dims};
    d.num_classes = classes;
    d.x.resize(static_cast<size_t>(count * dims));
    for (float& x : d.x) x = static_cast<float>(rng.uniform(-1, 1));
    for (Index i = 0; i < count; ++i) d.labels.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(classes))));
    return d;
  };
  return {make(40), make(16)};
}

}  // namespace

TEST_CASE("ePC and Strict descend the same energy: small eta, large n reach the same beliefs and gradients") {
  for (LossKind loss : {LossKind::MSE, LossKind::CrossEntropy}) {
    CAPTURE(loss_name(loss));
    Problem p = dense_problem({6, 9, 8, 7, 3}, loss);
    const PCResult<double> strict = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.05, 4000);
    const auto strict_grads = gradients(p.model);
    const PCResult<double> epc = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::ErrorBased, 0.05, 4000);
    CHECK_FALSE(epc.divergence.diverged());
    for (Index l = 1; l < 4; ++l) {
      CAPTURE(l);
      CHECK(relative_difference(epc.v[l], strict.v[l]) < 1e-9);
      CHECK(relative_difference(epc.eps[l], strict.eps[l]) < 1e-6);
    }
    CHECK(max_relative_difference(gradients(p.model), strict_grads) < 1e-6);
    // Far from converged they differ: the two descents take different paths.
    pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.05, 5);
    const auto strict_early = gradients(p.model);
    pc_infer_poisoned(p.model, p.X, p.Y, ErrType::ErrorBased, 0.05, 5);
    CHECK(max_relative_difference(gradients(p.model), strict_early) > 1e-2);
  }
}

TEST_CASE("ePC's first iteration moves every layer along backprop's error: layer 1's update is eta times backprop's") {
  // eps_l = η δ_l after one iteration from eps = 0, and v_0 = X: block 1's
  // gradient is exactly η times backprop's at any depth, while Strict's first
  // iteration reaches only the last block (its relative error is 1 below it).
  for (Index depth : {2, 4, 8, 12}) {
    CAPTURE(depth);
    std::vector<Index> widths(static_cast<size_t>(depth) + 1, 10);
    widths.back() = 3;
    Problem p = dense_problem(widths, LossKind::CrossEntropy, 7 + depth);
    const auto bp = backprop_gradients(p);
    pc_infer_poisoned(p.model, p.X, p.Y, ErrType::ErrorBased, 0.1, 1);
    const auto epc = agreement_per_block(p.model, gradients(p.model), bp);
    CHECK(epc[0].rel_error == doctest::Approx(0.9).epsilon(1e-12));
    CHECK(epc[0].angle_deg < 1e-5);
    pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 1);
    const auto strict = agreement_per_block(p.model, gradients(p.model), bp);
    CHECK(strict[0].rel_error == 1);
  }
}

TEST_CASE("ePC's outputs: the beliefs are made from the errors, eps_L is the loss gradient at them") {
  Problem p = dense_problem({5, 7, 6, 3}, LossKind::MSE);
  const PCResult<double> r = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::ErrorBased, 0.3, 7);
  CHECK(relative_difference(r.v[0], p.X) == 0);
  CHECK(relative_difference(r.v[3], r.vhat[3]) == 0);
  CHECK_FALSE(r.eps[0].defined());
  BlockTrace<double> trace;
  for (Index l = 1; l < 3; ++l) {
    Tensor<double> f = p.model.f(l).forward(r.v[l - 1], trace);
    f.array() -= r.eps[l].array();
    CHECK(relative_difference(r.v[l], f) < 1e-15);
  }
  Tensor<double> dL;
  loss_value(LossKind::MSE, p.model.f(3).forward(r.v[2], trace), p.Y, &dL);
  CHECK(relative_difference(r.eps[3], dL) == 0);
}

TEST_CASE("iPC with n = 1 updates only the last block on its first iteration, by backprop's gradient there") {
  Problem p = dense_problem({6, 8, 7, 4}, LossKind::CrossEntropy);
  const auto bp = backprop_gradients(p);
  const auto before = weights_of(p.model);
  OptimizerConfig sgd;
  sgd.kind = OptimizerKind::SGD;
  sgd.lr = 0.5;
  auto optimizer = make_optimizer<double>(sgd);
  PCInference<double> ipc(p.model, ErrType::Incremental, 0.1, optimizer.get());
  poison_gradients(p.model);
  ipc.run(p.X, p.Y, 1);
  CHECK_FALSE(ipc.divergence().diverged());
  const auto after = weights_of(p.model);
  const auto params = p.model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    CAPTURE(params[i].name);
    if (params[i].block < 3) {
      CHECK(relative_difference(after[i], before[i]) == 0);
    } else {  // W − lr · g with g backprop's gradient of the last block
      Tensor<double> expected = before[i];
      expected.array() -= 0.5 * bp[i].array();
      CHECK(relative_difference(after[i], expected) < 1e-15);
      CHECK(relative_difference(params[i].param->grad, bp[i]) < 1e-15);  // the mean of one iteration's
    }
  }
}

TEST_CASE("iPC makes n weight updates a batch and needs an optimizer, which pc_infer lacks") {
  Problem p = dense_problem({4, 6, 3}, LossKind::MSE);
  CHECK_THROWS_WITH_AS(pc_infer(p.model, p.X, p.Y, ErrType::Incremental, 0.1, 5),
                       doctest::Contains("runs in training"), Error);
  OptimizerConfig sgd;
  sgd.kind = OptimizerKind::SGD;
  sgd.lr = 0.01;
  // Five SGD steps: the mean gradient times 5 lr is the whole move.
  const auto before = weights_of(p.model);
  auto optimizer = make_optimizer<double>(sgd);
  PCInference<double> ipc(p.model, ErrType::Incremental, 0.1, optimizer.get());
  ipc.run(p.X, p.Y, 5);
  const auto after = weights_of(p.model);
  const auto params = p.model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor<double> moved = before[i];
    moved.array() -= 5 * 0.01 * params[i].param->grad.array();
    CAPTURE(params[i].name);
    CHECK(relative_difference(after[i], moved) < 1e-12);
  }
  CHECK(relative_difference(after[0], before[0]) > 0);  // block 1 learned from iteration 2 on
}

TEST_CASE("a Trainer runs iPC: its step updates in the relaxation, and a divergence restores the weights") {
  ModelSpec spec = dense_spec({3, 8, 8, 2}, "tanh", LossKind::CrossEntropy);
  TrainConfig config;
  config.err = ErrType::Incremental;
  config.eta = 0.1;
  config.n = 4;
  config.batch = 8;
  Trainer<double> trainer(spec, toy_split(3, 2, 1), config);
  const auto start = weights_of(trainer.model());
  const StepMetrics m = trainer.step();
  CHECK_FALSE(m.diverged);
  CHECK(m.iterations == 4);
  CHECK(max_relative_difference(weights_of(trainer.model()), start) > 0);

  // η = 50 sends the beliefs to infinity within a few iterations, after the
  // weights have moved: the step is undone whole.
  trainer.set_inference(ErrType::Incremental, 50, 200, 0);
  const auto before = weights_of(trainer.model());
  const StepMetrics bad = trainer.step();
  REQUIRE(bad.diverged);
  CHECK(bad.divergence.find("non-finite") != std::string::npos);
  CHECK(max_relative_difference(weights_of(trainer.model()), before) == 0);
}

TEST_CASE("the stopping rule ends a relaxation once its step is tol times its first, and reports the iterations") {
  Problem p = dense_problem({6, 9, 8, 7, 3}, LossKind::MSE);
  for (ErrType err : {ErrType::Strict, ErrType::FixedPred, ErrType::ErrorBased}) {
    CAPTURE(err_type_name(err));
    PCInference<double> all(p.model, err, 0.1);
    std::vector<SweepStats> full;
    all.run(p.X, p.Y, 500, nullptr, &full);
    CHECK(all.iterations() == 500);
    PCInference<double> stopped(p.model, err, 0.1);
    stopped.set_tolerance(0.05);
    std::vector<SweepStats> record;
    stopped.run(p.X, p.Y, 500, nullptr, &record);
    REQUIRE(stopped.converged());
    const int k = stopped.iterations();
    CHECK(k > 1);
    CHECK(k < 500);
    // It stopped at the first iteration whose step was small enough, with the
    // same iterations as the full run up to there.
    CHECK(record.back().step_rms <= 0.05 * record.front().step_rms);
    for (int i = 0; i + 1 < k; ++i) CHECK(record[i].step_rms > 0.05 * record.front().step_rms);
    CHECK(record.back().step_rms == full[k - 1].step_rms);
  }
  CHECK_THROWS_AS(check_inference_settings(ErrType::Strict, 0.1, 5, -0.1), Error);
  CHECK_THROWS_AS(check_inference_settings(ErrType::Strict, 0.1, 5, 1.5), Error);
}

TEST_CASE("Strict's step_rms is the root mean square of dF/dv over the relaxed beliefs") {
  Problem p = dense_problem({4, 5, 6, 2}, LossKind::MSE, 3, 3);
  PCInference<double> inference(p.model, ErrType::Strict, 0.1);
  inference.start(p.X, p.Y);
  const std::vector<Tensor<double>> v0 = inference.v;
  inference.sweep();
  // v moved by η · (−∂F/∂v): the step's rms is the move's over η.
  double sq = 0, count = 0;
  for (Index l = 1; l < 3; ++l) {
    sq += (inference.v[l].array() - v0[l].array()).square().sum() / (0.1 * 0.1);
    count += static_cast<double>(v0[l].size());
  }
  CHECK(inference.stats().step_rms == doctest::Approx(std::sqrt(sq / count)).epsilon(1e-12));
}

TEST_CASE("mupc:WIDTH,DEPTH builds μPC's residual MLP: its scalings, N(0, 1) weights and no biases") {
  const ModelSpec spec = residual_mlp_model("mupc:16,5:tanh", {1, 4, 4}, 3);
  REQUIRE(spec.blocks.size() == 5);
  CHECK(spec.blocks[0][0].type == "flatten");
  CHECK(spec.blocks[0].back().factor == doctest::Approx(1 / std::sqrt(16.0)));  // 1/√D, D = 16 inputs
  for (size_t b = 1; b < 4; ++b) {
    CHECK(spec.blocks[b].residual);
    CHECK(spec.blocks[b][0].type == "tanh");
    CHECK(spec.blocks[b].back().factor == doctest::Approx(1 / std::sqrt(16.0 * 5)));  // 1/√(N·L)
  }
  CHECK_FALSE(spec.blocks[0].residual);
  CHECK_FALSE(spec.blocks[4].residual);
  CHECK(spec.blocks[4].back().factor == doctest::Approx(1.0 / 16));  // 1/N
  CHECK(residual_mlp_model("mupc:16,5", {2}, 2).blocks[1][0].type == "relu");
  CHECK_THROWS_WITH_AS(residual_mlp_model("mupc:16", {2}, 2), doctest::Contains("mupc:WIDTH,DEPTH"), Error);
  CHECK_THROWS_WITH_AS(residual_mlp_model("mupc:16,1", {2}, 2), doctest::Contains("depth"), Error);
  CHECK_THROWS_WITH_AS(residual_mlp_model("mupc:16,4:swish", {2}, 2), doctest::Contains("activation"), Error);

  Model<double> model(residual_mlp_model("mupc:64,6", {32}, 10));
  model.init(3);
  double sum = 0, sq = 0, count = 0;
  for (const NamedParam<double>& p : model.parameters()) {
    CHECK(p.name.find("weight") != std::string::npos);  // no biases
    sum += p.param->value.array().sum();
    sq += p.param->value.array().square().sum();
    count += static_cast<double>(p.param->value.size());
  }
  CHECK(std::abs(sum / count) < 0.02);
  CHECK(sq / count == doctest::Approx(1).epsilon(0.03));
  // The scalings keep the forward pass O(1) at any depth: ‖v̂_l‖ per value stays within bounds.
  for (Index depth : {4, 32, 128}) {
    Model<double> deep(residual_mlp_model("mupc:64," + std::to_string(depth), {32}, 10));
    deep.init(4);
    Rng rng(9);
    std::vector<Tensor<double>> vhat;
    std::vector<BlockTrace<double>> traces;
    deep.forward(random_tensor<double>({16, 32}, rng), vhat, traces);
    for (Index l = 1; l < depth; ++l) {
      const double rms = std::sqrt(vhat[l].array().square().mean());
      CAPTURE(depth);
      CAPTURE(l);
      CHECK(rms > 0.1);
      CHECK(rms < 10);
    }
  }
}

TEST_CASE("resmlp:WIDTH,DEPTH is the same net in the standard parameterisation: no scales, PyTorch's init") {
  const ModelSpec mu = residual_mlp_model("mupc:16,5", {8}, 3), sp = residual_mlp_model("resmlp:16,5", {8}, 3);
  REQUIRE(sp.blocks.size() == mu.blocks.size());
  for (size_t b = 0; b < sp.blocks.size(); ++b) {
    CAPTURE(b);
    CHECK(sp.blocks[b].residual == mu.blocks[b].residual);
    CHECK(sp.blocks[b].size() + 1 == mu.blocks[b].size());  // each of μPC's blocks ends in its scale
    for (const LayerSpec& l : sp.blocks[b]) {
      CHECK(l.type != "scale");
      CHECK_FALSE(l.normal_init);
    }
  }
  CHECK(Model<float>(mu).num_parameters() == Model<float>(sp).num_parameters());
  CHECK_THROWS_WITH_AS(residual_mlp_model("resmlp:16,x", {8}, 3), doctest::Contains("resmlp: depth"), Error);
}

TEST_CASE("a residual block's VJPs match finite differences, dense and convolutional") {
  ModelSpec dense;
  dense.input_shape = {5};
  dense.loss = LossKind::MSE;
  dense.blocks = {BlockSpec({{"tanh"}, {"linear", 5}}, true), {{"linear", 2}}};
  ModelSpec conv;
  conv.input_shape = {2, 5, 5};
  conv.loss = LossKind::MSE;
  LayerSpec same{"conv2d", 2, 0, true, 3, 1, 1};
  LayerSpec scale{"scale"};
  scale.factor = 0.7;
  conv.blocks = {BlockSpec({same, {"relu"}, scale}, true), {{"flatten"}, {"linear", 3}}};
  for (const ModelSpec& spec : {dense, conv}) {
    Model<double> model(spec);
    model.init(2);
    Rng rng(3);
    Shape batch_shape = {3};
    batch_shape.insert(batch_shape.end(), spec.input_shape.begin(), spec.input_shape.end());
    Tensor<double> x = random_tensor<double>(batch_shape, rng);
    Tensor<double> gy = random_tensor<double>(x.shape(), rng);
    BlockTrace<double> trace;
    model.f(1).forward(x, trace);
    Tensor<double> gx;
    model.f(1).backward(x, trace, gy, &gx, true);
    auto dot = [&]() {
      BlockTrace<double> t;
      return (model.f(1).forward(x, t).array() * gy.array()).sum();
    };
    CHECK(relative_difference(gx, numeric_gradient(x, dot)) < 1e-7);
    for (const NamedParam<double>& p : model.parameters()) {
      if (p.block != 1) continue;
      const Tensor<double> analytic = p.param->grad;
      CHECK(relative_difference(analytic, numeric_gradient(p.param->value, dot)) < 1e-7);
    }
  }
  ModelSpec bad = dense;
  bad.blocks[0] = BlockSpec({{"linear", 4}}, true);
  CHECK_THROWS_WITH_AS(Model<double>{bad}, doctest::Contains("residual"), Error);
}

TEST_CASE("the model file states residual blocks, scale layers and the normal initialisation, and reads them back") {
  const ModelSpec spec = residual_mlp_model("mupc:8,4", {1, 3, 3}, 4);
  const std::string text = model_json(spec);
  CHECK(text.find("\"residual\": true") != std::string::npos);
  CHECK(text.find("\"init\": \"normal\"") != std::string::npos);
  const ModelSpec back = parse_model_json(text, "mupc.json");
  CHECK(model_json(back) == text);
  CHECK(back.blocks[2].residual);
  CHECK(back.blocks[2][1].normal_init);
  CHECK(back.blocks[3].back().factor == spec.blocks[3].back().factor);
  CHECK_THROWS_WITH_AS(parse_model_json(R"({"input_shape": [2], "loss": "mse", "blocks": [{"residual": 1, "layers": [{"type": "tanh"}]}, [{"type": "linear", "out": 2}]]})", "m"),
                       doctest::Contains("\"residual\" must be true or false"), Error);
  CHECK_THROWS_WITH_AS(parse_model_json(R"({"input_shape": [2], "loss": "mse", "blocks": [[{"type": "scale"}], [{"type": "linear", "out": 2}]]})", "m"),
                       doctest::Contains("scale needs \"factor\""), Error);
  CHECK_THROWS_WITH_AS(parse_model_json(R"({"input_shape": [2], "loss": "mse", "blocks": [[{"type": "linear", "out": 2, "init": "xavier"}]]})", "m"),
                       doctest::Contains("\"init\""), Error);
  // The safetensors names stay "<block>.<layer>.weight": a residual block adds no level.
  Model<float> model(spec);
  CHECK(model.parameters()[1].name == "1.1.weight");
}
