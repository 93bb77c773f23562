// Micro-benchmarks (Google Benchmark), on one thread, float32:
//   * each layer of the paper's nets at batch 300 (MNIST) or 32 (CIFAR):
//     forward, input VJP, parameter VJP, with GFLOP/s for the products;
//   * each algorithm's unit of work on paper-mnist, batch 300: a FixedPred
//     and a Strict inference iteration, and Exact's whole backprop;
//   * the largest products of paper-cifar as plain Eigen GEMMs, the throughput
//     its conv layers are held against (bench/README.md).
//   build/native/pcplay_micro [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include "helpers.h"  // tests/: random batches
#include "layers.h"
#include "loss.h"
#include "model.h"
#include "model_file.h"
#include "pc_infer.h"

using namespace pcplay;
using pcplay::test::random_targets;
using pcplay::test::random_tensor;

namespace {

enum class Pass { Forward, VjpInput, VjpParams };

void layer_pass(benchmark::State& state, LayerSpec spec, Shape in_shape, Index batch, Pass pass) {
  auto layer = make_layer<float>(spec, in_shape);
  Rng rng(1);
  layer->init(rng);
  const Tensor<float> x = random_tensor<float>(batch_shape(batch, in_shape), rng);
  Tensor<float> y, gx;
  LayerWork<float> work;
  layer->forward(x, y, work);
  const Tensor<float> gy = random_tensor<float>(y.shape(), rng);
  for (auto _ : state) {
    switch (pass) {
      case Pass::Forward: layer->forward(x, y, work); break;
      case Pass::VjpInput: layer->vjp_input(x, y, gy, gx, work); break;
      case Pass::VjpParams: layer->vjp_params(x, gy, work); break;
    }
    benchmark::ClobberMemory();
  }
  const double flops = 2 * layer->product_macs() * static_cast<double>(batch);
  if (flops > 0)
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void register_layer(const std::string& name, LayerSpec spec, Shape in_shape, Index batch) {
  const std::pair<const char*, Pass> passes[] = {
      {"forward", Pass::Forward}, {"vjp_input", Pass::VjpInput}, {"vjp_params", Pass::VjpParams}};
  for (const auto& [pass_name, pass] : passes) {
    if (pass == Pass::VjpParams && spec.type != "linear" && spec.type != "conv2d") continue;
    benchmark::RegisterBenchmark(("layer/" + name + "/" + pass_name).c_str(), layer_pass, spec, in_shape, batch, pass)
        ->Unit(benchmark::kMicrosecond);
  }
}

// One unit of each algorithm's work on paper-mnist: an inference iteration
// (FixedPred, Strict), or the whole of Exact.
void algorithm(benchmark::State& state, ErrType err) {
  Model<float> model(model_preset("paper-mnist"));
  model.init(1);
  Rng rng(2);
  const Index batch = 300;
  const Tensor<float> X = random_tensor<float>(batch_shape(batch, model.input_shape()), rng);
  const Targets<float> Y = random_targets<float>(model.loss(), batch, 10, rng);
  PCInference<float> inference(model, err, 0.1f);
  inference.start(X, Y);
  for (auto _ : state) {
    if (err == ErrType::Exact) {
      inference.start(X, Y);
    } else {
      if (inference.iterations() >= 20) inference.start(X, Y);  // stay near the paper's n = 20
      inference.sweep();
    }
    benchmark::ClobberMemory();
  }
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

// C [m, n] = A [m, k] · B [k, n], row-major, as the conv layers multiply.
void eigen_gemm(benchmark::State& state, Index m, Index k, Index n) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Matrix a = Matrix::Random(m, k), b = Matrix::Random(k, n);
  Matrix c(m, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * k * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
  auto conv = [](Index out, Index padding) { return LayerSpec{"conv2d", out, 0, true, 3, 1, padding}; };
  const LayerSpec maxpool{"maxpool2d", 0, 0, true, 2};
  // paper-mnist, batch 300.
  register_layer("mnist-conv1", conv(10, 0), {1, 28, 28}, 300);
  register_layer("mnist-relu1", {"relu"}, {10, 26, 26}, 300);
  register_layer("mnist-maxpool", maxpool, {10, 26, 26}, 300);
  register_layer("mnist-conv2", conv(5, 0), {10, 13, 13}, 300);
  register_layer("mnist-linear605x50", {"linear", 50}, {605}, 300);
  // paper-cifar's largest layers, batch 32.
  register_layer("cifar-conv2", conv(128, 1), {64, 32, 32}, 32);
  register_layer("cifar-conv3", conv(256, 1), {128, 16, 16}, 32);
  register_layer("cifar-linear16384x256", {"linear", 256}, {16384}, 32);
  for (auto [name, err] : {std::pair{"fixedpred-iteration", ErrType::FixedPred},
                           std::pair{"strict-iteration", ErrType::Strict}, std::pair{"exact-step", ErrType::Exact}})
    benchmark::RegisterBenchmark((std::string("paper-mnist/") + name).c_str(), algorithm, err)
        ->Unit(benchmark::kMillisecond);
  // The same products in isolation: conv2 and conv3 per sample
  // ([O, C·k·k] · [C·k·k, Ho·Wo]), and the linear layer's forward product.
  benchmark::RegisterBenchmark("eigen-gemm/cifar-conv2 128x576x1024", eigen_gemm, 128, 576, 1024)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("eigen-gemm/cifar-conv3 256x1152x256", eigen_gemm, 256, 1152, 256)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("eigen-gemm/cifar-linear 32x16384x256", eigen_gemm, 32, 16384, 256)
      ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
