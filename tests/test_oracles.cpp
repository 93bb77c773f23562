// Exact oracles for every error type, without torch: a 2-block scalar net
// worked by hand, and a second, plain implementation of docs/algorithms.md
// for dense nets (Eigen matrices, no traces, no fused passes, no threads)
// that the engine must match to 1e-12 in float64. They pin the arithmetic of
// each sweep, where each Jacobian and gradient is taken, and what is returned.
#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <cmath>

#include "helpers.h"
#include "pc_infer.h"

using namespace pcplay;
using namespace pcplay::test;

namespace {

// --- the hand-worked net ---------------------------------------------------------
// f_1(x) = 2x + 0.5, f_2(z) = −z + 0.25, MSE, one sample x = 1 with target 0.
//   v̂_1 = 2.5, v̂_2 = −2.25, Loss = 2.25² = 5.0625, dLdy = 2·(−2.25) = −4.5.
Model<double> hand_net() {
  Model<double> model(dense_spec({1, 1, 1}, "identity", LossKind::MSE));
  const double values[] = {2, 0.5, -1, 0.25};  // 0.weight, 0.bias, 1.weight, 1.bias
  auto params = model.parameters();
  REQUIRE(params.size() == 4);
  for (size_t i = 0; i < 4; ++i) params[i].param->value[0] = values[i];
  return model;
}

struct HandExpected {
  double v1, eps1, eps2, gW1, gb1, gW2, gb2;
};

void check_hand(Model<double>& model, const PCResult<double>& r, const HandExpected& e) {
  CHECK(r.loss == doctest::Approx(5.0625).epsilon(1e-15));
  CHECK(r.dLdy[0] == doctest::Approx(-4.5).epsilon(1e-15));
  CHECK(r.vhat[1][0] == doctest::Approx(2.5).epsilon(1e-15));
  CHECK(r.v[1][0] == doctest::Approx(e.v1).epsilon(1e-14));
  CHECK(r.eps[1][0] == doctest::Approx(e.eps1).epsilon(1e-14));
  CHECK(r.eps[2][0] == doctest::Approx(e.eps2).epsilon(1e-14));
  const auto p = model.parameters();
  const double grads[] = {e.gW1, e.gb1, e.gW2, e.gb2};
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(p[i].name);
    CHECK(p[i].param->grad[0] == doctest::Approx(grads[i]).epsilon(1e-14));
  }
}

Tensor<double> scalar(double v) {
  Tensor<double> t({1, 1});
  t[0] = v;
  return t;
}

// --- the plain implementation --------------------------------------------------------
using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A dense net as dense_spec builds it: blocks [linear, tanh] (or linear alone
// with `tanh_hidden` false), the last block linear.
struct Net {
  std::vector<Mat> W;          // W[l-1]: [out, in]
  std::vector<Mat> b;          // b[l-1]: [1, out]
  bool tanh_hidden = true;
  LossKind loss = LossKind::MSE;
  int L() const { return static_cast<int>(W.size()); }
  bool tanh_at(int l) const { return tanh_hidden && l < L(); }

  Mat pre(int l, const Mat& x) const { return (x * W[l - 1].transpose()).rowwise() + b[l - 1].row(0); }
  Mat f(int l, const Mat& x) const {
    const Mat z = pre(l, x);
    return tanh_at(l) ? Mat(z.array().tanh()) : z;
  }
  // The gradient at the pre-activation of g at the output.
  Mat through_act(int l, const Mat& x, const Mat& g) const {
    if (!tanh_at(l)) return g;
    const Mat t = pre(l, x).array().tanh();
    return g.array() * (1 - t.array().square());
  }
  Mat vjp(int l, const Mat& x, const Mat& g) const { return through_act(l, x, g) * W[l - 1]; }  // J_l(x)ᵀ g
  void param_grads(int l, const Mat& x, const Mat& g, Mat& gW, Mat& gb) const {       // Jθ_l(x)ᵀ g
    const Mat d = through_act(l, x, g);
    gW = d.transpose() * x;
    gb = d.colwise().sum();
  }
  // Loss with PyTorch's mean reduction, and its gradient.
  double loss_and_grad(const Mat& y, const Targets<double>& Y, Mat& g) const {
    const double B = static_cast<double>(y.rows()), K = static_cast<double>(y.cols());
    if (loss == LossKind::MSE) {
      const Mat target = Eigen::Map<const Mat>(Y.values.data(), y.rows(), y.cols());
      g = 2 * (y - target) / (B * K);
      return (y - target).array().square().sum() / (B * K);
    }
    double total = 0;
    g.resize(y.rows(), y.cols());
    for (Index r = 0; r < y.rows(); ++r) {
      const double top = y.row(r).maxCoeff();
      const Eigen::RowVectorXd e = (y.row(r).array() - top).exp();
      const double sum = e.sum();
      total += -(y(r, Y.labels[r]) - top - std::log(sum));
      g.row(r) = e / sum / B;
      g(r, Y.labels[r]) -= 1 / B;
    }
    return total / B;
  }
};

Net net_of(Model<double>& model, bool tanh_hidden) {
  Net net;
  net.tanh_hidden = tanh_hidden;
  net.loss = model.loss();
  for (const NamedParam<double>& p : model.parameters()) {
    const Tensor<double>& t = p.param->value;
    if (t.rank() == 2)
      net.W.push_back(Eigen::Map<const Mat>(t.data(), t.shape()[0], t.shape()[1]));
    else
      net.b.push_back(Eigen::Map<const Mat>(t.data(), 1, t.size()));
  }
  return net;
}

struct OracleResult {
  std::vector<Mat> vhat, v, eps;  // an empty matrix where the error type leaves the entry undefined
  double loss = 0;
  Mat dLdy;
  std::vector<Mat> gW, gb;
};

// docs/algorithms.md, equation for equation.
OracleResult oracle(const Net& net, const Mat& X, const Targets<double>& Y, ErrType err, double eta, int n) {
  const int L = net.L();
  OracleResult o;
  o.vhat = {X};
  for (int l = 1; l <= L; ++l) o.vhat.push_back(net.f(l, o.vhat[l - 1]));
  o.loss = net.loss_and_grad(o.vhat[L], Y, o.dLdy);
  o.v.assign(L + 1, Mat());
  o.eps.assign(L + 1, Mat());
  o.gW.resize(L);
  o.gb.resize(L);
  if (err == ErrType::Exact) {
    o.eps[L] = o.dLdy;
    for (int l = L - 1; l >= 1; --l) o.eps[l] = net.vjp(l + 1, o.vhat[l], o.eps[l + 1]);
    for (int l = 1; l <= L; ++l) {
      o.v[l] = o.vhat[l] - o.eps[l];
      net.param_grads(l, o.vhat[l - 1], o.eps[l], o.gW[l - 1], o.gb[l - 1]);
    }
    return o;
  }
  o.v = o.vhat;
  if (err == ErrType::FixedPred) {
    o.eps[L] = o.dLdy;
    for (int i = 0; i < n; ++i)
      for (int k = L - 1; k >= 0; --k) {
        o.eps[k] = o.vhat[k] - o.v[k];
        o.v[k] = o.v[k] + eta * (o.eps[k] - net.vjp(k + 1, o.vhat[k], o.eps[k + 1]));
      }
    for (int l = 1; l <= L; ++l) net.param_grads(l, o.vhat[l - 1], o.eps[l], o.gW[l - 1], o.gb[l - 1]);
    return o;
  }
  if (err == ErrType::ErrorBased) {  // the errors relax; the beliefs are made from them
    std::vector<Mat> e(L + 1), delta(L + 1);
    for (int l = 1; l < L; ++l) e[l] = Mat::Zero(o.vhat[l].rows(), o.vhat[l].cols());
    auto beliefs = [&] {
      for (int l = 1; l < L; ++l) o.v[l] = net.f(l, o.v[l - 1]) - e[l];
    };
    for (int i = 0; i < n; ++i) {
      beliefs();
      net.loss_and_grad(net.f(L, o.v[L - 1]), Y, delta[L]);
      for (int l = L - 1; l >= 1; --l) delta[l] = net.vjp(l + 1, o.v[l], delta[l + 1]);
      for (int l = 1; l < L; ++l) e[l] = e[l] - eta * (e[l] - delta[l]);
    }
    beliefs();
    net.loss_and_grad(net.f(L, o.v[L - 1]), Y, o.eps[L]);
    for (int l = 1; l < L; ++l) o.eps[l] = e[l];
    for (int l = 1; l <= L; ++l) net.param_grads(l, o.v[l - 1], o.eps[l], o.gW[l - 1], o.gb[l - 1]);
    return o;
  }
  for (int i = 0; i < n; ++i) {  // Strict
    net.loss_and_grad(net.f(L, o.v[L - 1]), Y, o.eps[L]);
    for (int l = L - 1; l >= 1; --l) {
      o.eps[l] = net.f(l, o.v[l - 1]) - o.v[l];
      o.v[l] = o.v[l] + eta * (o.eps[l] - net.vjp(l + 1, o.v[l], o.eps[l + 1]));
    }
  }
  for (int l = 1; l <= L; ++l) net.param_grads(l, o.v[l - 1], o.eps[l], o.gW[l - 1], o.gb[l - 1]);
  return o;
}

// iPC with plain SGD (learning rate lr): each iteration, the gradients at
// (v, θ) before the beliefs move, Strict's belief update, then θ −= lr · g.
// Leaves the net's weights as the last update made them; its gradients are
// the mean of those the iterations applied.
OracleResult oracle_ipc(Net& net, const Mat& X, const Targets<double>& Y, double eta, int n, double lr) {
  const int L = net.L();
  OracleResult o = oracle(net, X, Y, ErrType::Exact, 0, 0);  // v̂, the loss and dLdy at the starting weights
  o.v = o.vhat;
  o.eps.assign(L + 1, Mat());
  for (int l = 1; l <= L; ++l) {
    o.gW[l - 1] = Mat::Zero(net.W[l - 1].rows(), net.W[l - 1].cols());
    o.gb[l - 1] = Mat::Zero(1, net.b[l - 1].cols());
  }
  for (int i = 0; i < n; ++i) {
    const std::vector<Mat> before = o.v;
    net.loss_and_grad(net.f(L, o.v[L - 1]), Y, o.eps[L]);
    for (int l = L - 1; l >= 1; --l) {
      o.eps[l] = net.f(l, o.v[l - 1]) - o.v[l];
      o.v[l] = o.v[l] + eta * (o.eps[l] - net.vjp(l + 1, o.v[l], o.eps[l + 1]));
    }
    std::vector<Mat> gW(L), gb(L);
    for (int l = 1; l <= L; ++l) net.param_grads(l, before[l - 1], o.eps[l], gW[l - 1], gb[l - 1]);
    for (int l = 1; l <= L; ++l) {
      net.W[l - 1] -= lr * gW[l - 1];
      net.b[l - 1] -= lr * gb[l - 1];
      o.gW[l - 1] += gW[l - 1] / n;
      o.gb[l - 1] += gb[l - 1] / n;
    }
  }
  return o;
}

double rel_diff(const Tensor<double>& t, const Mat& m) {
  REQUIRE(t.size() == m.size());
  const Mat a = Eigen::Map<const Mat>(t.data(), m.rows(), m.cols());
  const double scale = std::max(m.cwiseAbs().maxCoeff(), 1e-300);
  return (a - m).cwiseAbs().maxCoeff() / scale;
}

// The engine's run of `err` (iPC with SGD at lr 0.05, from a copy of the model,
// whose final weights are checked too) against the oracle's.
void check_against_oracle(Model<double>& model, bool tanh_hidden, const Tensor<double>& X, const Targets<double>& Y,
                          ErrType err, double eta, int n) {
  CAPTURE(err_type_name(err));
  CAPTURE(n);
  Net net = net_of(model, tanh_hidden);
  const Mat x = Eigen::Map<const Mat>(X.data(), X.rows(), X.cols());
  const double lr = 0.05;
  const bool learns = learns_while_relaxing(err);
  const OracleResult o = learns ? oracle_ipc(net, x, Y, eta, n, lr) : oracle(net, x, Y, err, eta, n);
  Model<double> learner(model);  // iPC changes the weights: the caller's stay
  PCResult<double> r;
  if (learns) {
    OptimizerConfig sgd;
    sgd.kind = OptimizerKind::SGD;
    sgd.lr = lr;
    const auto optimizer = make_optimizer<double>(sgd);
    PCInference<double> ipc(learner, err, eta, optimizer.get());
    poison_gradients(learner);
    ipc.run(X, Y, n);
    r = {ipc.vhat, ipc.v, ipc.eps, ipc.loss, ipc.dLdy, ipc.divergence()};
    const Net after = net_of(learner, tanh_hidden);
    for (int l = 1; l <= net.L(); ++l) {
      CAPTURE(l);
      CHECK((after.W[l - 1] - net.W[l - 1]).cwiseAbs().maxCoeff() <= 1e-12 * net.W[l - 1].cwiseAbs().maxCoeff());
      CHECK((after.b[l - 1] - net.b[l - 1]).cwiseAbs().maxCoeff() <= 1e-12 * net.b[l - 1].cwiseAbs().maxCoeff());
    }
  } else {
    r = pc_infer_poisoned(learner, X, Y, err, eta, n);
  }
  Model<double>& model_run = learner;
  const int L = net.L();
  // Rounding: the oracle's plain loops and Eigen's kernels sum in other
  // orders. iPC updates the weights at every iteration, so its differences
  // compound over n (1.4e-12 at n = 20 with AVX-512's kernels).
  const double bound = learns ? 1e-12 * std::max(1, n / 2) : 1e-12;
  CHECK(r.loss == doctest::Approx(o.loss).epsilon(1e-13));
  CHECK(rel_diff(r.dLdy, o.dLdy) <= 1e-12);
  for (int l = 0; l <= L; ++l) {
    CAPTURE(l);
    CHECK(rel_diff(r.vhat[l], o.vhat[l]) <= bound);
    REQUIRE(r.v[l].defined() == (o.v[l].size() > 0));
    if (r.v[l].defined()) CHECK(rel_diff(r.v[l], o.v[l]) <= bound);
    REQUIRE(r.eps[l].defined() == (o.eps[l].size() > 0));
    if (r.eps[l].defined()) CHECK(rel_diff(r.eps[l], o.eps[l]) <= bound);
  }
  const auto params = model_run.parameters();
  for (int l = 1; l <= L; ++l) {
    CAPTURE(l);
    CHECK(rel_diff(params[2 * (l - 1)].param->grad, o.gW[l - 1]) <= bound);
    CHECK(rel_diff(params[2 * (l - 1) + 1].param->grad, o.gb[l - 1]) <= bound);
  }
}

// Every error type against the plain implementation on a dense net of these
// widths, for both losses and each n.
void check_net(const std::vector<Index>& widths, bool tanh_hidden, uint64_t seed, double eta, const std::vector<int>& ns) {
  for (LossKind loss : {LossKind::MSE, LossKind::CrossEntropy}) {
    Model<double> model(dense_spec(widths, tanh_hidden ? "tanh" : "identity", loss));
    model.init(seed);
    Rng rng(seed + 1);
    const Index batch = 5 + static_cast<Index>(widths.size()), classes = widths.back();
    const Tensor<double> X = random_tensor<double>({batch, widths[0]}, rng);
    const Targets<double> Y = random_targets<double>(loss, batch, classes, rng);
    for (const Named<ErrType>& err : err_types())
      for (int n : ns) check_against_oracle(model, tanh_hidden, X, Y, err.value, eta, n);
  }
}

}  // namespace

TEST_CASE("oracle, by hand: Exact on the 2-block scalar net") {
  Model<double> model = hand_net();
  Targets<double> Y;
  Y.values = scalar(0);
  const PCResult<double> r = pc_infer_poisoned(model, scalar(1), Y, ErrType::Exact, 0.0, 0);
  // eps_2 = −4.5, eps_1 = J_2ᵀ eps_2 = −1 · −4.5 = 4.5, v_1 = v̂_1 − eps_1 = −2.
  check_hand(model, r, {-2, 4.5, -4.5, 4.5 * 1, 4.5, -4.5 * 2.5, -4.5});
}

TEST_CASE("oracle, by hand: Strict with eta = 0.1 after one and after two sweeps") {
  Model<double> model = hand_net();
  Targets<double> Y;
  Y.values = scalar(0);
  // Sweep 1 (v = v̂): eps_2 = 2·f_2(2.5) = −4.5; eps_1 = f_1(1) − 2.5 = 0;
  // v_1 = 2.5 + 0.1·(0 − (−1)(−4.5)) = 2.05. Gradients at the beliefs:
  // grad W_2 = eps_2 · v_1 = −4.5 · 2.05, grad W_1 = eps_1 · x = 0.
  PCResult<double> r = pc_infer_poisoned(model, scalar(1), Y, ErrType::Strict, 0.1, 1);
  check_hand(model, r, {2.05, 0, -4.5, 0, 0, -4.5 * 2.05, -4.5});
  // Sweep 2: eps_2 = 2·f_2(2.05) = 2·(−1.8) = −3.6; eps_1 = 2.5 − 2.05 = 0.45;
  // v_1 = 2.05 + 0.1·(0.45 − 3.6) = 1.735; grad W_2 = −3.6 · 1.735.
  r = pc_infer_poisoned(model, scalar(1), Y, ErrType::Strict, 0.1, 2);
  check_hand(model, r, {1.735, 0.45, -3.6, 0.45, 0.45, -3.6 * 1.735, -3.6});
  CHECK_FALSE(r.eps[0].defined());
  CHECK(r.v[2][0] == -2.25);  // v_L stays at v̂_L
  // The energy of the first iteration: ½·0² + Loss(f_2(v̂_1)) at v = v̂.
  std::vector<SweepStats> record;
  pc_infer_poisoned(model, scalar(1), Y, ErrType::Strict, 0.1, 2, nullptr, &record);
  REQUIRE(record.size() == 2);
  CHECK(record[0].energy == doctest::Approx(5.0625).epsilon(1e-15));
  // Second: ½·0.45² + (f_2(2.05))² = 0.10125 + 3.24.
  CHECK(record[1].energy == doctest::Approx(0.10125 + 3.24).epsilon(1e-14));
}

TEST_CASE("oracle, by hand: FixedPred with eta = 0.1 after two sweeps") {
  Model<double> model = hand_net();
  Targets<double> Y;
  Y.values = scalar(0);
  // eps_2 = dLdy = −4.5 throughout, Jacobians at v̂.
  // Sweep 1: eps_1 = 0, v_1 = 2.5 − 0.1·4.5 = 2.05; eps_0 = 0, v_0 = 1.
  // Sweep 2: eps_1 = 0.45, v_1 = 2.05 + 0.1·(0.45 − 4.5) = 1.645;
  //          eps_0 = 0, v_0 = 1 + 0.1·(0 − 2·0.45) = 0.91.
  // Gradients at v̂: grad W_2 = eps_2 · v̂_1 = −4.5 · 2.5, grad W_1 = eps_1 · x = 0.45.
  const PCResult<double> r = pc_infer_poisoned(model, scalar(1), Y, ErrType::FixedPred, 0.1, 2);
  check_hand(model, r, {1.645, 0.45, -4.5, 0.45, 0.45, -4.5 * 2.5, -4.5});
  CHECK(r.v[0][0] == doctest::Approx(0.91).epsilon(1e-15));
  CHECK(r.eps[0][0] == 0);
}

TEST_CASE("oracle: every error type equals the plain implementation on a 2-block linear net (float64, 1e-12)") {
  check_net({3, 4, 2}, false, 21, 0.3, {1, 2, 7});
}

TEST_CASE("oracle: every error type equals the plain implementation on a 4-block tanh net (float64, 1e-12)") {
  check_net({6, 7, 5, 6, 3}, true, 31, 0.1, {1, 2, 20});
}
