// SGD and Adam against steps computed by hand from PyTorch's update rules.
#include <doctest/doctest.h>

#include <cmath>

#include "error.h"
#include "optim.h"

using namespace pcplay;

namespace {

// A model with a single weight w (linear 1 -> 1, no bias), to step by hand.
struct Scalar {
  Model<double> model{ModelSpec{{1}, LossKind::MSE, {{{"linear", 1, 0, false}}}}};
  Param<double>& w() { return *model.parameters()[0].param; }
  void step(Optimizer<double>& opt, double value, double grad) {
    w().value[0] = value;
    w().grad[0] = grad;
    opt.step(model.parameters());
  }
};

}  // namespace

TEST_CASE("SGD with momentum and weight decay matches hand-computed steps") {
  Scalar s;
  OptimizerConfig c;
  c.kind = OptimizerKind::SGD, c.lr = 0.1, c.momentum = 0.9, c.weight_decay = 0.1;
  auto opt = make_optimizer<double>(c);
  s.step(*opt, 1.0, 0.5);  // d = 0.5 + 0.1·1 = 0.6; buf = 0.6; w = 1 − 0.06
  CHECK(s.w().value[0] == doctest::Approx(0.94).epsilon(1e-15));
  s.step(*opt, 0.94, 0.5);  // d = 0.5 + 0.094; buf = 0.9·0.6 + 0.594 = 1.134; w = 0.94 − 0.1134
  CHECK(s.w().value[0] == doctest::Approx(0.8266).epsilon(1e-15));
}

TEST_CASE("SGD with Nesterov momentum matches a hand-computed step") {
  Scalar s;
  OptimizerConfig c;
  c.kind = OptimizerKind::SGD, c.lr = 0.1, c.momentum = 0.9, c.weight_decay = 0.1, c.nesterov = true;
  auto opt = make_optimizer<double>(c);
  s.step(*opt, 1.0, 0.5);  // d = 0.6; buf = 0.6; d = 0.6 + 0.9·0.6 = 1.14; w = 1 − 0.114
  CHECK(s.w().value[0] == doctest::Approx(0.886).epsilon(1e-15));
}

TEST_CASE("plain SGD is w -= lr * g") {
  Scalar s;
  OptimizerConfig c;
  c.kind = OptimizerKind::SGD, c.lr = 0.5;
  auto opt = make_optimizer<double>(c);
  s.step(*opt, 2.0, 3.0);  // 2 − 0.5·3
  CHECK(s.w().value[0] == 0.5);
}

TEST_CASE("Adam matches hand-computed bias-corrected steps with eps after the square root") {
  Scalar s;
  OptimizerConfig c;
  c.kind = OptimizerKind::Adam, c.lr = 0.1, c.weight_decay = 0.01;
  auto opt = make_optimizer<double>(c);
  // Step 1: g = 0.5 + 0.01·1 = 0.51; m = 0.051; v = 0.001·0.51²;
  //   w = 1 − (0.1/0.1)·m / (√v/√0.001 + 1e-8) = 1 − 0.051/(0.51 + 1e-8)
  s.step(*opt, 1.0, 0.5);
  const double w1 = 1 - 0.051 / (0.51 + 1e-8);
  CHECK(s.w().value[0] == doctest::Approx(w1).epsilon(1e-14));
  // Step 2: g = 0.25 + 0.01·w1; m = 0.9·0.051 + 0.1·g; v = 0.999·0.001·0.51² + 0.001·g²
  const double g = 0.25 + 0.01 * w1, m = 0.9 * 0.051 + 0.1 * g;
  const double v = 0.999 * 0.001 * 0.51 * 0.51 + 0.001 * g * g;
  const double w2 = w1 - (0.1 / (1 - 0.81)) * m / (std::sqrt(v) / std::sqrt(1 - 0.999 * 0.999) + 1e-8);
  s.step(*opt, w1, 0.25);
  CHECK(s.w().value[0] == doctest::Approx(w2).epsilon(1e-14));
}

// Each element of a [2, 3] weight and a [2] bias follows its own gradient;
// the expected values are PyTorch's rules written out per element here.
TEST_CASE("SGD and Adam update every element of multi-element parameters by its own gradient") {
  const ModelSpec spec{{3}, LossKind::MSE, {{{"linear", 2}}}};
  const double w0[] = {0.5, -1.0, 2.0, 0.0, 0.25, -0.75}, b0[] = {0.1, -0.2};
  const double gw[2][6] = {{0.3, -0.6, 0.0, 1.2, -0.05, 0.4}, {-0.1, 0.2, 0.7, -0.3, 0.0, 0.9}};
  const double gb[2][2] = {{-0.5, 0.25}, {0.05, -0.15}};
  for (OptimizerKind kind : {OptimizerKind::SGD, OptimizerKind::Adam}) {
    CAPTURE(optimizer_name(kind));
    Model<double> model(spec);
    auto params = model.parameters();
    for (int i = 0; i < 6; ++i) params[0].param->value[i] = w0[i];
    for (int i = 0; i < 2; ++i) params[1].param->value[i] = b0[i];
    OptimizerConfig c;
    c.kind = kind, c.lr = 0.05, c.momentum = 0.8, c.weight_decay = 0.02;
    auto opt = make_optimizer<double>(c);
    // Per element: (value, first slot, second slot).
    std::vector<double> value(w0, w0 + 6), m(8, 0), v(8, 0);
    value.insert(value.end(), b0, b0 + 2);
    for (int t = 1; t <= 2; ++t) {
      for (int i = 0; i < 6; ++i) params[0].param->grad[i] = gw[t - 1][i];
      for (int i = 0; i < 2; ++i) params[1].param->grad[i] = gb[t - 1][i];
      opt->step(params);
      for (int i = 0; i < 8; ++i) {
        const double d = (i < 6 ? gw[t - 1][i] : gb[t - 1][i - 6]) + 0.02 * value[i];
        if (kind == OptimizerKind::SGD) {  // buf = d at the first step, then 0.8·buf + d
          m[i] = t == 1 ? d : 0.8 * m[i] + d;
          value[i] -= 0.05 * m[i];
        } else {
          m[i] = 0.9 * m[i] + 0.1 * d;
          v[i] = 0.999 * v[i] + 0.001 * d * d;
          const double c1 = 1 - std::pow(0.9, t), c2 = 1 - std::pow(0.999, t);
          value[i] -= (0.05 / c1) * m[i] / (std::sqrt(v[i]) / std::sqrt(c2) + 1e-8);
        }
      }
      for (int i = 0; i < 8; ++i) {
        CAPTURE(t);
        CAPTURE(i);
        const double got = i < 6 ? params[0].param->value[i] : params[1].param->value[i - 6];
        CHECK(got == doctest::Approx(value[i]).epsilon(1e-13));
      }
    }
  }
}

TEST_CASE("changing the learning rate keeps the optimizer's state") {
  Scalar s;
  OptimizerConfig c;
  c.kind = OptimizerKind::SGD, c.lr = 0.1, c.momentum = 0.5;
  auto opt = make_optimizer<double>(c);
  s.step(*opt, 0.0, 1.0);  // buf = 1; w = −0.1
  opt->lr = 1.0;
  s.step(*opt, 0.0, 1.0);  // buf = 0.5 + 1 = 1.5; w = −1.5
  CHECK(s.w().value[0] == doctest::Approx(-1.5).epsilon(1e-15));
}

TEST_CASE("bad optimizer settings are errors") {
  CHECK_THROWS_WITH_AS(parse_optimizer("rmsprop"), "unknown optimizer \"rmsprop\" (expected adam or sgd)", Error);
  CHECK(parse_optimizer("SGD") == OptimizerKind::SGD);
  OptimizerConfig c;
  c.lr = -1;
  CHECK_THROWS_AS(make_optimizer<double>(c), Error);
  c.lr = 0.1, c.beta1 = 1;
  CHECK_THROWS_AS(make_optimizer<double>(c), Error);
}
