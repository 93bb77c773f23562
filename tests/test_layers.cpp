// Every layer's and loss's VJPs against central finite differences (float64).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "helpers.h"
#include "layers.h"
#include "model.h"
#include "model_file.h"

using namespace pcplay;
using namespace pcplay::test;

namespace {

// A layer's scratch (LayerWork::part) carries nothing from one call to the
// next: fill it with NaN, larger than any call here asks, before each call,
// so that a value a call reads before writing shows.
void poison_scratch(LayerWork<double>& work) {
  constexpr size_t kValues = size_t(1) << 16;
  work.prepare_parts(1);
  for (size_t p = 0; p < work.part.size(); ++p)
    std::fill_n(work.part_buffer(static_cast<int>(p), kValues), kValues, std::nan(""));
}

// <r, f(x)> is a scalar whose gradient in x is J(x)^T r and in θ is Jθ(x)^T r.
void check_layer_vjps(const LayerSpec& spec, const Shape& in_shape, double lo = -1, double hi = 1) {
  CAPTURE(spec.type);
  Rng rng(7);
  auto layer = make_layer<double>(spec, in_shape);
  layer->init(rng);
  const Index B = 3;
  Tensor<double> x = random_tensor<double>(batch_shape(B, in_shape), rng, lo, hi);
  Tensor<double> y;
  LayerWork<double> work;
  poison_scratch(work);
  layer->forward(x, y, work);
  CHECK(y.shape() == batch_shape(B, layer->out_shape));
  const Tensor<double> r = random_tensor<double>(y.shape(), rng);
  auto objective = [&] {
    Tensor<double> out;
    LayerWork<double> scratch;
    layer->forward(x, out, scratch);
    return (out.array() * r.array()).sum();
  };

  Tensor<double> gx;
  poison_scratch(work);
  layer->vjp_input(x, y, r, gx, work);
  CHECK(relative_difference(gx, numeric_gradient(x, objective)) < 1e-7);

  for (Param<double>& p : layer->params) p.grad.array() = std::nan("");  // unwritten cannot pass
  poison_scratch(work);
  layer->vjp_params(x, r, work);
  std::vector<Tensor<double>> grads;
  for (Param<double>& p : layer->params) {
    CAPTURE(p.name);
    CHECK(relative_difference(p.grad, numeric_gradient(p.value, objective)) < 1e-7);
    grads.push_back(p.grad);
  }
  // Without what a forward pass kept (a batch beyond kKeptPatchValues): the same.
  LayerWork<double> fresh;
  layer->vjp_params(x, r, fresh);
  for (size_t k = 0; k < grads.size(); ++k) CHECK(relative_difference(layer->params[k].grad, grads[k]) < 1e-14);
  // A batch of no rows (a process's share of none, collective.h): every
  // output and gradient is empty or zero, nothing of the last call is left.
  Tensor<double> none_x(batch_shape(0, in_shape)), none_y, none_gx;
  LayerWork<double> none_work;
  layer->forward(none_x, none_y, none_work);
  CHECK(none_y.shape() == batch_shape(0, layer->out_shape));
  layer->vjp_input(none_x, none_y, none_y, none_gx, none_work);
  CHECK(none_gx.shape() == none_x.shape());
  layer->vjp_params(none_x, none_y, none_work);
  for (Param<double>& p : layer->params) {
    CAPTURE(p.name);
    CHECK(p.grad.array().abs().maxCoeff() == 0.0);
  }
}

// The model's block 1 forward at x into trace, then backward from a random
// output gradient r: its input and parameter gradients against central
// differences. The trace and r are left for the caller to look into.
void check_block_vjps(Model<double>& model, Tensor<double>& x, Rng& rng, BlockTrace<double>& trace,
                      Tensor<double>& r) {
  Block<double>& f1 = model.f(1);
  r = random_tensor<double>(f1.forward(x, trace).shape(), rng);
  auto objective = [&] {
    BlockTrace<double> t;
    return (f1.forward(x, t).array() * r.array()).sum();
  };
  Tensor<double> gx;
  poison_gradients(model);
  f1.backward(x, trace, r, &gx, true);
  CHECK(relative_difference(gx, numeric_gradient(x, objective)) < 1e-7);
  for (const auto& p : model.parameters())
    if (p.block == 1) CHECK(relative_difference(p.param->grad, numeric_gradient(p.param->value, objective)) < 1e-7);
}

}  // namespace

TEST_CASE("a view of a tensor's rows reads and writes them, a copy of it owns its values") {
  Tensor<double> whole({5, 2, 3});
  for (Index i = 0; i < whole.size(); ++i) whole[i] = double(i);
  Tensor<double> rows;
  rows.view_rows(whole, 2, 2);
  CHECK(rows.is_view());
  CHECK(rows.shape() == Shape{2, 2, 3});
  CHECK(rows.cols() == 6);
  CHECK(rows[0] == 12.0);
  CHECK(rows.matrix()(1, 5) == 23.0);
  rows.array() += 100;
  CHECK(whole[11] == 11.0);
  CHECK(whole[12] == 112.0);
  CHECK(whole[23] == 123.0);
  CHECK(whole[24] == 24.0);
  rows.resize({2, 6});  // the same values, another shape: still the view
  CHECK(rows.data() == whole.data() + 12);
  CHECK_THROWS_AS(rows.resize({3, 6}), std::logic_error);
  rows.view_rows(whole, 0, 5);
  const Tensor<double> copy = rows;
  CHECK_FALSE(copy.is_view());
  CHECK(copy.data() != whole.data());
  CHECK(copy.shape() == whole.shape());
  CHECK(copy.array().isApprox(whole.array()));
  rows.forget();
  CHECK_FALSE(rows.defined());
  CHECK(rows.size() == 0);
  // A tensor that held values, made a view of none (a process's share of
  // no rows): empty, as its shape says.
  Tensor<double> held({2, 3}), none({0, 3});
  held.view_batch(none, {3});
  CHECK(held.shape() == Shape{0, 3});
  CHECK(held.size() == 0);
  held.view_batch(whole, {6});
  held.view_rows(none, 0, 0);
  CHECK(held.size() == 0);
}

TEST_CASE("every layer's input and parameter VJPs match central finite differences") {
  check_layer_vjps({"linear", 4}, {5});
  check_layer_vjps({"linear", 4, 0, false}, {5});
  check_layer_vjps({"tanh"}, {6});
  check_layer_vjps({"sigmoid"}, {6});
  check_layer_vjps({"identity"}, {6});
  check_layer_vjps({"flatten"}, {2, 3, 2});
  check_layer_vjps({"relu"}, {6}, 0.1, 1);   // away from the kink
  check_layer_vjps({"relu"}, {6}, -1, -0.1);
}

TEST_CASE("conv2d's VJPs match finite differences, with stride, padding and without bias") {
  //                 type      out in bias  kernel stride padding
  check_layer_vjps({"conv2d", 3, 0, true, 3, 1, 0}, {2, 6, 5});
  check_layer_vjps({"conv2d", 3, 0, true, 3, 1, 1}, {2, 5, 6});
  check_layer_vjps({"conv2d", 2, 0, true, 2, 1, 2}, {2, 4, 3});  // rows of zeros only
  check_layer_vjps({"conv2d", 17, 0, true, 3, 1, 1}, {2, 5, 4});  // many channels: patches and GEMM
  check_layer_vjps({"conv2d", 17, 0, true, 2, 1, 0}, {3, 4, 5});
  check_layer_vjps({"conv2d", 4, 2, true, 3, 2, 1}, {2, 7, 6});
  check_layer_vjps({"conv2d", 2, 0, false, 2, 3, 2}, {3, 5, 5});
  check_layer_vjps({"conv2d", 2, 0, true, 1, 1, 0}, {1, 1, 1});
  // 7 output and 11 input channels on rows longer than a span: every size of
  // block of rows in the direct sums (5, 4, 3, 2, 1) and the last span's overlap.
  check_layer_vjps({"conv2d", 7, 0, true, 3, 1, 1}, {11, 9, 8});
  check_layer_vjps({"conv2d", 4, 0, true, 3, 1, 0}, {3, 9, 8});
}

TEST_CASE("a one-channel convolution's input gradient is a two-channel one's first plane, bit for bit") {
  // The direct sums in a block of one row (conv1's input VJP on MNIST)
  // against a block of two: the same terms in the same order, so float32
  // sums agree to the bit, on MNIST's plane and on planes whose last spans
  // overlap the ones before.
  struct Case {
    Index kernel, padding, h, w;
  };
  for (const Case c : {Case{3, 0, 28, 28}, Case{3, 1, 19, 17}, Case{5, 2, 23, 21}}) {
    CAPTURE(c.kernel);
    CAPTURE(c.h);
    auto one = make_layer<float>({"conv2d", 6, 0, true, c.kernel, 1, c.padding}, {1, c.h, c.w});
    auto two = make_layer<float>({"conv2d", 6, 0, true, c.kernel, 1, c.padding}, {2, c.h, c.w});
    Rng rng(5);
    two->init(rng);
    const Index taps = c.kernel * c.kernel;
    for (Index o = 0; o < 6; ++o)  // one's kernel: two's at input channel 0
      std::copy_n(two->params[0].value.data() + o * 2 * taps, taps, one->params[0].value.data() + o * taps);
    const Tensor<float> x1 = random_tensor<float>(batch_shape(2, one->in_shape), rng);
    const Tensor<float> x2 = random_tensor<float>(batch_shape(2, two->in_shape), rng);
    const Tensor<float> gy = random_tensor<float>(batch_shape(2, one->out_shape), rng);
    Tensor<float> gx1, gx2, unused;
    LayerWork<float> work1, work2;
    one->vjp_input(x1, unused, gy, gx1, work1);
    two->vjp_input(x2, unused, gy, gx2, work2);
    const Index n = c.h * c.w;
    for (Index b = 0; b < 2; ++b) CHECK(std::memcmp(gx1.data() + b * n, gx2.data() + b * 2 * n, sizeof(float) * n) == 0);
    CHECK(gx1.array().abs().maxCoeff() > 0);
  }
}

TEST_CASE("maxpool2d and avgpool2d VJPs match finite differences, overlapping windows included") {
  check_layer_vjps({"maxpool2d", 0, 0, true, 2}, {2, 6, 7});  // stride = kernel; the last column is dropped
  check_layer_vjps({"maxpool2d", 0, 0, true, 2}, {1, 5, 19});  // rows long enough for packets, odd both ways
  check_layer_vjps({"maxpool2d", 0, 0, true, 3, 2}, {2, 7, 7});
  check_layer_vjps({"avgpool2d", 0, 0, true, 2}, {2, 6, 6});
  check_layer_vjps({"avgpool2d", 0, 0, true, 3, 1}, {1, 5, 6});
}

TEST_CASE("maxpool2d gives the gradient to the first maximum of each window in row-major order, as PyTorch") {
  auto pool = make_layer<double>({"maxpool2d", 0, 0, true, 2}, {1, 2, 4});
  Tensor<double> x({1, 1, 2, 4}), y, g({1, 1, 1, 2}), gx;
  // Window 1 is all zeros (MNIST's background); window 2 ties 5 at (0,3) and (1,2).
  const double values[] = {0, 0, 1, 5, 0, 0, 5, 2};
  for (int i = 0; i < 8; ++i) x[i] = values[i];
  g.array() = 1;
  LayerWork<double> work;
  pool->forward(x, y, work);
  CHECK(y[0] == 0);
  CHECK(y[1] == 5);
  pool->vjp_input(x, y, g, gx, work);
  const double expected[] = {1, 0, 0, 1, 0, 0, 0, 0};
  for (int i = 0; i < 8; ++i) CHECK(gx[i] == expected[i]);
  x[5] = std::nan("");  // NaN wins, as in PyTorch
  pool->forward(x, y, work);
  CHECK(std::isnan(y[0]));
}

TEST_CASE("maxpool2d's 2x2 windows pick what PyTorch's scan picks, for every order of ties and NaNs") {
  // Every window of values from {0, 1, NaN} (3^4 of them, over and over:
  // window w takes the pattern w mod 81), side by side in one plane of even
  // width (the paired fast path; a row of 300 windows, longer than the
  // gradient's stretch of 256), and an odd last row that no window reaches.
  // The scan: the first maximum in row-major order, or the last NaN.
  const int windows = 300;
  auto pool = make_layer<float>({"maxpool2d", 0, 0, true, 2}, {1, 3, 2 * windows});
  Tensor<float> x({2, 1, 3, 2 * windows}), y, gx;
  const float choices[] = {0, 1, std::nanf("")};
  for (Index b = 0; b < 2; ++b)
    for (int w = 0; w < windows; ++w)
      for (int k = 0, code = w; k < 4; ++k, code /= 3) {
        const float value = choices[(code + b) % 3];  // sample 1: the same windows, values rotated
        x[b * 6 * windows + (k / 2) * 2 * windows + 2 * w + k % 2] = value;
      }
  for (Index i = 0; i < 2 * windows; ++i) x[4 * windows + i] = x[10 * windows + i] = 7;  // the unreached row
  LayerWork<float> work;
  pool->forward(x, y, work);
  Tensor<float> g(y.shape());
  g.array() = 1;
  gx.resize(x.shape());
  gx.array() = std::nanf("");  // what the VJP leaves unwritten shows
  pool->vjp_input(x, y, g, gx, work);
  for (Index i = 0; i < 2 * windows; ++i) {
    CHECK(gx[4 * windows + i] == 0.0f);  // the unreached row
    CHECK(gx[10 * windows + i] == 0.0f);
  }
  for (Index b = 0; b < 2; ++b)
    for (int w = 0; w < windows; ++w) {
      CAPTURE(b);
      CAPTURE(w);
      const float* plane = x.data() + b * 6 * windows;
      Index best = 2 * w;
      for (int k = 1; k < 4; ++k) {
        const Index at = (k / 2) * 2 * windows + 2 * w + k % 2;
        if (plane[at] > plane[best] || std::isnan(plane[at])) best = at;
      }
      const float got = y[b * windows + w], expected = plane[best];
      CHECK((got == expected || (std::isnan(got) && std::isnan(expected))));
      for (int k = 0; k < 4; ++k) {
        const Index at = (k / 2) * 2 * windows + 2 * w + k % 2;
        CHECK(gx[b * 6 * windows + at] == (at == best ? 1.0f : 0.0f));
      }
    }
}

TEST_CASE("the paper's models have the paper's parameter counts and shapes") {
  Model<float> mnist(model_preset("paper-mnist"));
  CHECK(mnist.depth() == 5);
  CHECK(mnist.num_parameters() == 32695);
  CHECK(mnist.shape_at(1) == Shape{10, 13, 13});
  CHECK(mnist.shape_at(2) == Shape{605});
  Model<float> cifar(model_preset("paper-cifar"));
  CHECK(cifar.depth() == 6);
  CHECK(cifar.num_parameters() == 4633738);
  CHECK(cifar.shape_at(3) == Shape{16384});
}

TEST_CASE("ReLU's derivative is 0 at 0 and passes the gradient at NaN, as in PyTorch") {
  auto relu = make_layer<double>({"relu"}, {4});
  Tensor<double> x({1, 4}), y, g({1, 4}), gx;
  x[0] = 0, x[1] = 1, x[2] = -1, x[3] = std::nan("");
  g.array() = 1;
  LayerWork<double> work;
  relu->forward(x, y, work);
  relu->vjp_input(x, y, g, gx, work);
  CHECK(std::isnan(y[3]));  // relu(NaN) is NaN
  CHECK(gx[0] == 0);
  CHECK(gx[1] == 1);
  CHECK(gx[2] == 0);
  CHECK(gx[3] == 1);  // torch.relu's backward (threshold_backward) zeroes only where y <= 0
}

TEST_CASE("linear initialisation is PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases") {
  Rng rng(3);
  auto lin = make_layer<double>({"linear", 50}, {100});
  lin->init(rng);
  for (Param<double>& p : lin->params) {
    CHECK(p.value.array().abs().maxCoeff() <= 0.1);
    CHECK(p.value.array().abs().maxCoeff() > 0.09);  // fills the range
  }
}

TEST_CASE("a block's backward chains its layers' VJPs (finite differences)") {
  Model<double> model(dense_spec({3, 4, 2}, "tanh", LossKind::MSE));
  model.init(5);
  Rng rng(1);
  Tensor<double> x = random_tensor<double>({2, 3}, rng), r;
  BlockTrace<double> trace;
  check_block_vjps(model, x, rng, trace, r);
}

TEST_CASE("a flatten inside a block copies nothing, and its block's VJPs match finite differences") {
  // Above a block's first layer a reshape's output is a view of the output
  // below it, and the gradient below it a view of the one above; the
  // linear layer over it then reads the gradient through the view.
  ModelSpec spec;
  spec.input_shape = {2, 5, 4};
  spec.loss = LossKind::MSE;
  spec.blocks = {{{"conv2d", 3, 0, true, 2}, {"relu"}, {"flatten"}, {"linear", 3}, {"identity"}}, {{"linear", 2}}};
  Model<double> model(spec);
  model.init(4);
  Rng rng(6);
  Tensor<double> x = random_tensor<double>(batch_shape(3, spec.input_shape), rng), r;
  BlockTrace<double> trace;
  check_block_vjps(model, x, rng, trace, r);
  CHECK(trace.out[2].data() == trace.out[1].data());
  CHECK(trace.out[2].shape() == Shape{3, 36});
  CHECK(trace.out[4].data() == trace.out[3].data());
  CHECK(trace.grad[3].data() == r.data());
  CHECK(trace.grad[1].data() == trace.grad[2].data());
  CHECK(trace.grad[1].shape() == Shape{3, 3, 4, 3});
}

TEST_CASE("one trace serves a block with a flatten inside, then a block of more layers") {
  // Model::predict runs every block through one trace: the third layer's
  // output, a view after the flatten, is the next block's own tensor again.
  ModelSpec spec;
  spec.input_shape = {2, 5, 4};
  spec.loss = LossKind::MSE;
  spec.blocks = {{{"conv2d", 3, 0, true, 2}, {"relu"}, {"flatten"}}, {{"linear", 4}, {"relu"}, {"linear", 2}, {"tanh"}}};
  Model<float> model(spec);
  model.init(7);
  Rng rng(8);
  const Tensor<float> x = random_tensor<float>(batch_shape(3, spec.input_shape), rng);
  std::vector<Tensor<float>> vhat;
  std::vector<BlockTrace<float>> traces;  // a trace per block
  model.forward(x, vhat, traces);
  const Tensor<float> y = model.predict(x);
  REQUIRE(y.shape() == vhat[2].shape());
  CHECK(std::memcmp(y.data(), vhat[2].data(), sizeof(float) * y.size()) == 0);
  CHECK(vhat[1].array().abs().maxCoeff() > 0);
}

TEST_CASE("a block's backward through ReLU then max-pooling is the VJPs in turn, bit for bit") {
  // ReLU's zeros tie within windows, a NaN and an Inf reach the pools;
  // overlapping windows (3 at stride 2) add several gradients in one place.
  // Pooled planes 6 × 7 take the scan, 6 × 8 the pairs (2 × 2 at stride 2);
  // a block that starts with ReLU sends the pair's gradient to its input.
  // Without parameter gradients, a few-channel convolution under them takes
  // the pooling's gradient a sample at a time, into its padded copy (a
  // border of 1 with k = 2, p = 0; of 1 with k = 3, p = 1); with 17
  // channels it takes it whole.
  struct Case {
    Shape input;
    std::vector<LayerSpec> block;
  };
  const LayerSpec conv{"conv2d", 3, 0, true, 2}, pool2{"maxpool2d", 0, 0, true, 2}, pool3{"maxpool2d", 0, 0, true, 3, 2};
  const LayerSpec padded_conv{"conv2d", 4, 0, true, 3, 1, 1}, wide_conv{"conv2d", 17, 0, true, 2};
  for (const Case& c : {Case{{1, 7, 8}, {conv, {"relu"}, pool2}}, Case{{1, 7, 9}, {conv, {"relu"}, pool2}},
                        Case{{1, 7, 8}, {conv, {"relu"}, pool3}}, Case{{2, 6, 8}, {{"relu"}, pool2}},
                        Case{{2, 6, 8}, {padded_conv, {"relu"}, pool2}}, Case{{2, 7, 8}, {wide_conv, {"relu"}, pool2}}}) {
    CAPTURE(c.input[2]);
    CAPTURE(c.block.size());
    CAPTURE(c.block.front().out);
    CAPTURE(c.block.back().kernel);
    ModelSpec spec;
    spec.input_shape = c.input;
    spec.loss = LossKind::MSE;
    spec.blocks = {c.block, {{"flatten"}, {"linear", 2}}};
    Model<float> model(spec);
    model.init(3);
    Block<float>& f1 = model.f(1);
    const Index n = static_cast<Index>(f1.layers.size());
    if (n == 3) f1.layers[0]->params[1].value.array() = -0.3f;  // a negative bias: some windows ReLU zeroes whole
    Rng rng(2);
    Tensor<float> x = random_tensor<float>(batch_shape(4, spec.input_shape), rng);
    if (n == 2) x.array() -= 0.5f;
    x[5] = std::nanf("");
    x[60] = std::numeric_limits<float>::infinity();
    BlockTrace<float> trace;
    const Tensor<float> y = f1.forward(x, trace);
    Tensor<float> gy = random_tensor<float>(y.shape(), rng);
    gy[1] = std::nanf("");  // a NaN gradient is kept or masked as ReLU would
    Tensor<float> gx;
    CHECK((y.array() == 0).count() > 0);  // windows ReLU zeroed whole: their gradient is masked
    f1.backward(x, trace, gy, &gx, true);
    std::vector<Tensor<float>> fused_grads;
    for (const auto& layer : f1.layers)
      for (const Param<float>& p : layer->params) fused_grads.push_back(p.grad);
    // The same, layer by layer, from the top.
    Tensor<float> g = gy, below;
    for (Index i = n - 1; i >= 0; --i) {
      const Tensor<float>& input = i == 0 ? x : trace.out[i - 1];
      f1.layers[i]->vjp_params(input, g, trace.work[i]);
      f1.layers[i]->vjp_input(input, trace.out[i], g, below, trace.work[i]);
      g = below;
    }
    CHECK(std::memcmp(gx.data(), g.data(), sizeof(float) * gx.size()) == 0);
    Tensor<float> gx_alone;  // the input gradient alone, as FixedPred's sweeps ask
    for (Tensor<float>& between : trace.grad) between.array() = std::nanf("");
    f1.backward(x, trace, gy, &gx_alone, false);
    CHECK(std::memcmp(gx_alone.data(), g.data(), sizeof(float) * g.size()) == 0);
    if (n == 3)  // taken a sample at a time, the gradient at the convolution's output is never made whole
      CHECK(std::isnan(trace.grad[0][0]) == (c.block.front().out < 17));
    size_t k = 0;
    for (const auto& layer : f1.layers)
      for (const Param<float>& p : layer->params) {
        CHECK(std::memcmp(fused_grads[k].data(), p.grad.data(), sizeof(float) * p.grad.size()) == 0);
        ++k;
      }
  }
}

TEST_CASE("conv and pool layers that do not fit are reported") {
  CHECK_THROWS_WITH_AS(make_layer<double>({"conv2d", 3, 0, true, 3}, {9}), doctest::Contains("[C, H, W]"), Error);
  CHECK_THROWS_WITH_AS(make_layer<double>({"conv2d", 3, 0, true, 5}, {1, 4, 4}), doctest::Contains("larger"), Error);
  CHECK_THROWS_WITH_AS(make_layer<double>({"conv2d", 3, 2, true, 3}, {1, 4, 4}), doctest::Contains("in=2"), Error);
  CHECK_NOTHROW(make_layer<double>({"conv2d", 3, 0, true, 5, 1, 1}, {1, 4, 4}));
  CHECK_THROWS_WITH_AS(make_layer<double>({"maxpool2d", 0, 0, true, 3}, {1, 2, 2}), doctest::Contains("larger"), Error);
}

TEST_CASE("shapes that do not fit are reported with the block and layer") {
  ModelSpec spec;
  spec.input_shape = {1, 4, 4};
  spec.blocks = {{{"linear", 3}}};
  CHECK_THROWS_WITH_AS(Model<double>{spec}, doctest::Contains("block 0 layer 0 (linear)"), Error);
  spec.blocks = {{{"flatten"}, {"linear", 3, 15}}};
  CHECK_THROWS_WITH_AS(Model<double>{spec}, doctest::Contains("in=15"), Error);
  spec.blocks = {{{"flatten"}, {"linear", 3, 16}}};
  CHECK_NOTHROW(Model<double>{spec});
}

TEST_CASE("MSE is the mean over all elements and its gradient matches finite differences") {
  Rng rng(2);
  Tensor<double> yhat = random_tensor<double>({4, 3}, rng), target = random_tensor<double>({4, 3}, rng);
  Tensor<double> grad;
  const double value = mse_loss(yhat, target, &grad);
  CHECK(value == doctest::Approx((yhat.array() - target.array()).square().sum() / 12).epsilon(1e-14));
  CHECK(relative_difference(grad, numeric_gradient(yhat, [&] { return mse_loss<double>(yhat, target, nullptr); })) <
        1e-7);
}

TEST_CASE("cross-entropy is the batch mean of -log softmax[label] and its gradient matches finite differences") {
  Rng rng(4);
  Tensor<double> yhat = random_tensor<double>({5, 4}, rng, -3, 3);
  const std::vector<int64_t> labels = {0, 3, 1, 1, 2};
  Tensor<double> grad;
  const double value = cross_entropy_loss(yhat, labels, &grad);
  double expected = 0;
  for (Index b = 0; b < 5; ++b)
    expected += -std::log(std::exp(yhat.matrix()(b, labels[b])) / yhat.matrix().row(b).array().exp().sum());
  CHECK(value == doctest::Approx(expected / 5).epsilon(1e-13));
  CHECK(relative_difference(grad, numeric_gradient(yhat, [&] { return cross_entropy_loss<double>(yhat, labels, nullptr); })) <
        1e-7);
  // Stable for large logits.
  yhat.array() *= 1000;
  CHECK(std::isfinite(cross_entropy_loss<double>(yhat, labels, &grad)));
  CHECK(grad.all_finite());
}

TEST_CASE("labels out of range and targets of the wrong shape are errors") {
  Targets<double> y;
  y.labels = {0, 5};
  CHECK_THROWS_WITH_AS(check_targets(LossKind::CrossEntropy, y, 2, 3), doctest::Contains("out of range"), Error);
  y.labels = {0};
  CHECK_THROWS_AS(check_targets(LossKind::CrossEntropy, y, 2, 3), Error);
  y.values = Tensor<double>({2, 4});
  CHECK_THROWS_WITH_AS(check_targets(LossKind::MSE, y, 2, 3), doctest::Contains("shape"), Error);
}
