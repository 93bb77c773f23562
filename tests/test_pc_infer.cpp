// PCInfer against the claims of docs/algorithms.md.
#include <doctest/doctest.h>

#include <algorithm>

#include "diagnostics.h"
#include "helpers.h"
#include "pc_infer.h"
#include "row_update.h"

using namespace pcplay;
using namespace pcplay::test;

namespace {

// A 5-block (L = 5) dense net and a batch, as the paper's MNIST net is 5 PC layers.
Problem five_layer_problem(LossKind loss, const std::string& act = "tanh", uint64_t seed = 11) {
  Model<double> model(dense_spec({8, 12, 10, 9, 7, 4}, act, loss));
  model.init(seed);
  Rng rng(seed + 1);
  Tensor<double> X = random_tensor<double>({16, 8}, rng);
  return {std::move(model), std::move(X), random_targets<double>(loss, 16, 4, rng)};
}

// c_l(n): FixedPred's eps_l = c_l(n) δ_l, from c_L = 1, c_l(1) = 0 (l < L),
// c_l(i+1) = (1 − η) c_l(i) + η c_{l+1}(i). Index 0..L.
std::vector<double> fixedpred_factors(Index L, double eta, int n) {
  std::vector<double> c(L + 1, 0.0);
  c[L] = 1;
  for (int i = 1; i < n; ++i) {
    std::vector<double> next = c;
    for (Index l = 0; l < L; ++l) next[l] = (1 - eta) * c[l] + eta * c[l + 1];
    c = next;
  }
  return c;
}

// The largest ‖g − g_ref‖/‖g_ref‖ over all parameters (the paper's metric);
// exactly 0 only when the gradients are identical.
double max_rel_error(const std::vector<Tensor<double>>& g, const std::vector<Tensor<double>>& ref) {
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double diff = (g[i].array() - ref[i].array()).matrix().norm();
    worst = std::max(worst, diff == 0 ? 0.0 : diff / ref[i].array().matrix().norm());
  }
  return worst;
}

}  // namespace

TEST_CASE("Exact equals backprop: its gradients match finite differences of the loss") {
  for (LossKind loss : {LossKind::MSE, LossKind::CrossEntropy}) {
    Model<double> model(dense_spec({3, 5, 4, 3}, "sigmoid", loss));
    model.init(2);
    Rng rng(3);
    Tensor<double> X = random_tensor<double>({6, 3}, rng);
    Targets<double> Y = random_targets<double>(loss, 6, 3, rng);
    PCResult<double> r = pc_infer_poisoned(model, X, Y, ErrType::Exact, 0.0, 0);
    for (const NamedParam<double>& p : model.parameters()) {
      CAPTURE(p.name);
      Tensor<double> numeric =
          numeric_gradient(p.param->value, [&] { return loss_value(loss, model.predict(X), Y); });
      CHECK(relative_difference(p.param->grad, numeric) < 1e-7);
    }
    // v_l = v̂_l − δ_l; v_0 and eps_0 are none.
    CHECK_FALSE(r.v[0].defined());
    CHECK_FALSE(r.eps[0].defined());
    for (Index l = 1; l <= 3; ++l) CHECK((r.v[l].array() - (r.vhat[l].array() - r.eps[l].array())).abs().maxCoeff() == 0);
    CHECK(relative_difference(r.eps[3], r.dLdy) == 0);
  }
}

// In exact arithmetic they are equal (the paper's theorem). In floating point
// eps = v̂ − v cancels digits where |δ| << |v̂|, as in Torch2PC; sigmoid's
// small derivatives make δ of early layers tiny, so it is left out here.
TEST_CASE("FixedPred with eta = 1 and n = L equals backprop to 1e-12 (float64)") {
  for (LossKind loss : {LossKind::MSE, LossKind::CrossEntropy}) {
    for (const char* act : {"tanh", "relu"}) {
      CAPTURE(act);
      Problem p = five_layer_problem(loss, act);
      const auto bp = backprop_gradients(p);
      pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, 1.0, 5);
      CHECK(max_rel_error(gradients(p.model), bp) <= 1e-12);
    }
  }
}

TEST_CASE("FixedPred with n = L - l leaves layer l's gradient exactly zero, n = L - l + 1 makes it exact") {
  Problem p = five_layer_problem(LossKind::CrossEntropy);
  const auto bp = backprop_gradients(p);
  for (int n = 1; n <= 5; ++n) {
    CAPTURE(n);
    pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, 1.0, n);
    const auto g = gradients(p.model);
    const auto params = p.model.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      const Index l = params[i].block;
      if (n < 5 - l + 1)
        CHECK(g[i].array().abs().maxCoeff() == 0.0);
      else
        CHECK(relative_difference(g[i], bp[i]) <= 1e-12);
    }
  }
}

TEST_CASE("FixedPred eps_l = c_l(n) delta_l: every sweep is synchronous (Jacobi)") {
  Problem p = five_layer_problem(LossKind::MSE);
  PCResult<double> exact = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Exact, 0.0, 0);
  for (double eta : {0.1, 0.5}) {
    for (int n : {1, 3, 20}) {
      CAPTURE(eta);
      CAPTURE(n);
      PCResult<double> r = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, eta, n);
      const auto c = fixedpred_factors(5, eta, n);
      for (Index l = 1; l <= 5; ++l) {
        Tensor<double> expected = exact.eps[l];
        expected.array() *= c[l];
        CHECK((r.eps[l].array() - expected.array()).abs().maxCoeff() <=
              1e-12 * exact.eps[l].array().abs().maxCoeff() + 1e-300);
      }
    }
  }
}

TEST_CASE("FixedPred eta = 0.1, n = 20, L = 5: relative errors 0.885, 0.705, 0.420, 0.135, 0 at angle 0") {
  Problem p = five_layer_problem(LossKind::CrossEntropy, "relu");
  const auto bp = backprop_gradients(p);
  pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, 0.1, 20);
  const auto agreement = agreement_per_block(p.model, gradients(p.model), bp);
  const double expected[] = {0.885, 0.705, 0.420, 0.135, 0.0};
  for (int l = 0; l < 5; ++l) {
    CAPTURE(l + 1);
    CHECK(std::abs(agreement[l].rel_error - expected[l]) < 1e-3);
    CHECK(agreement[l].angle_deg < 1e-5);
  }
}

TEST_CASE("FixedPred returns v one iteration ahead of eps, and updates layer 0") {
  Problem p = five_layer_problem(LossKind::MSE);
  PCResult<double> r = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, 0.1, 7);
  PCResult<double> next = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, 0.1, 8);
  for (Index l = 0; l < 5; ++l) {
    CAPTURE(l);
    Tensor<double> ahead = r.vhat[l];
    ahead.array() -= r.v[l].array();  // v̂ − v = eps^(n+1)
    CHECK(relative_difference(ahead, next.eps[l]) < 1e-12);
  }
  REQUIRE(r.eps[0].defined());
  CHECK(r.v[0].array().matrix() != p.X.array().matrix());
  CHECK(relative_difference(r.eps[5], r.dLdy) == 0);  // eps_L = dLdy, fixed
  CHECK(relative_difference(r.v[5], r.vhat[5]) == 0);  // v_L never changes
}

TEST_CASE("gradients are overwritten, not accumulated") {
  Problem p = five_layer_problem(LossKind::CrossEntropy);
  for (ErrType err : {ErrType::Strict, ErrType::FixedPred, ErrType::Exact}) {
    pc_infer_poisoned(p.model, p.X, p.Y, err, 0.1, 5);
    const auto first = gradients(p.model);
    pc_infer_poisoned(p.model, p.X, p.Y, err, 0.1, 5);
    CHECK(max_rel_error(gradients(p.model), first) == 0);
  }
}

TEST_CASE("the returned loss is the feed-forward loss for every error type") {
  Problem p = five_layer_problem(LossKind::MSE);
  const double feed_forward = loss_value(LossKind::MSE, p.model.predict(p.X), p.Y);
  for (ErrType err : {ErrType::Strict, ErrType::FixedPred, ErrType::Exact})
    CHECK(pc_infer_poisoned(p.model, p.X, p.Y, err, 0.1, 20).loss == feed_forward);
}

// The paper's regime: batch 300, 10 classes, pixel-like inputs in [0, 1]. With
// mean-reduced MSE the errors are small, and Strict's fixed point is close to
// backprop (its distance grows with |eps|).
TEST_CASE("Strict (MSE, eta = 0.1, n = 400, float64, small errors) is within 1e-3 of backprop") {
  Model<double> model(dense_spec({100, 50, 40, 30, 20, 10}, "tanh", LossKind::MSE));
  model.init(11);
  Rng rng(12);
  Tensor<double> X = random_tensor<double>({300, 100}, rng, 0, 1);
  Targets<double> Y = random_targets<double>(LossKind::MSE, 300, 10, rng);
  Problem p{std::move(model), std::move(X), std::move(Y)};
  const auto bp = backprop_gradients(p);

  PCResult<double> r = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 400);
  CHECK_FALSE(r.divergence.diverged());
  auto agreement = agreement_per_block(p.model, gradients(p.model), bp);
  for (int l = 0; l < 5; ++l) {
    CAPTURE(l + 1);
    CHECK(agreement[l].rel_error < 1e-3);
  }
  // Strict leaves v_0 = X and v_L = v̂_L, and has no eps_0.
  CHECK(relative_difference(r.v[0], p.X) == 0);
  CHECK(relative_difference(r.v[5], r.vhat[5]) == 0);
  CHECK_FALSE(r.eps[0].defined());

  // n = 20 is far from converged: the spec measures 0.91/0.78/0.53/0.21/≈0.01.
  pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 20);
  agreement = agreement_per_block(p.model, gradients(p.model), bp);
  const double measured[] = {0.91, 0.78, 0.53, 0.21, 0.01};
  for (int l = 0; l < 5; ++l) {
    CAPTURE(l + 1);
    CHECK(std::abs(agreement[l].rel_error - measured[l]) < 0.03);
  }
}

TEST_CASE("Strict at eta = 1 diverges and is reported as such") {
  Problem p = five_layer_problem(LossKind::MSE);
  const auto bp = backprop_gradients(p);
  PCResult<double> r = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 1.0, 20);
  const auto agreement = agreement_per_block(p.model, gradients(p.model), bp);
  for (int l = 0; l < 4; ++l) CHECK(agreement[l].rel_error > 100);  // the spec: 1e2..1e4
  REQUIRE(r.divergence.kind == Divergence::Kind::EnergyRose);
  CHECK(r.divergence.energy > r.divergence.energy_start);
  CHECK(r.divergence.describe().find("energy rose") != std::string::npos);
  // A step size that converges never raises the energy.
  CHECK_FALSE(pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 400).divergence.diverged());
}

TEST_CASE("non-finite errors are caught where they first appear and stop the iterations") {
  // FixedPred's factors grow like |1 − η|^n for η > 2; with L = 5 eps_0's grow
  // fastest (like n⁴·2ⁿ), and the sum of its squares passes double's range
  // first (it grows 4-fold an iteration, so no rounding moves the iteration).
  Problem p = five_layer_problem(LossKind::MSE);
  std::vector<SweepStats> record;
  PCResult<double> r = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, 3.0, 5000, nullptr, &record);
  REQUIRE(r.divergence.kind == Divergence::Kind::NonFinite);
  CHECK(r.divergence.layer == 0);
  CHECK(r.divergence.quantity == "eps");
  CHECK(r.divergence.describe() == "eps_0 became non-finite at inference iteration 487");
  CHECK(std::isfinite(record[r.divergence.iteration - 2].eps_norm[0]));
  CHECK(record.size() == static_cast<size_t>(r.divergence.iteration));
  CHECK(r.divergence.describe().find("non-finite at inference iteration") != std::string::npos);
}

// A NaN belief v_1 at the start (vinit) spoils, in the first sweep, f_2(v_1)
// and so eps_2 and v_2, and eps_1 and v_1 below it; eps_3 is computed from v_2
// before it changes and stays finite. The highest layer is named, with its
// quantity and iteration.
TEST_CASE("a divergence names the highest non-finite layer, its quantity and the iteration") {
  Model<double> model(dense_spec({4, 5, 5, 3}, "tanh", LossKind::MSE));
  model.init(5);
  Rng rng(6);
  const Tensor<double> X = random_tensor<double>({3, 4}, rng);
  const Targets<double> Y = random_targets<double>(LossKind::MSE, 3, 3, rng);
  std::vector<Tensor<double>> vinit(4);
  vinit[1] = Tensor<double>({3, 5});
  vinit[1].array() = 0.5;
  vinit[1][7] = std::nan("");
  std::vector<SweepStats> record;
  const PCResult<double> r = pc_infer_poisoned(model, X, Y, ErrType::Strict, 0.1, 10, &vinit, &record);
  REQUIRE(r.divergence.kind == Divergence::Kind::NonFinite);
  CHECK(r.divergence.layer == 2);
  CHECK(r.divergence.quantity == "eps");
  CHECK(r.divergence.iteration == 1);
  CHECK(r.divergence.describe() == "eps_2 became non-finite at inference iteration 1");
  CHECK(record.size() == 1);  // the iterations stop there
  CHECK(std::isfinite(record[0].eps_norm[3]));
  CHECK(std::isnan(record[0].eps_norm[1]));
  CHECK(std::isnan(model.parameters()[0].param->grad.array().sum()));  // grad θ_1 = Jθ_1ᵀ eps_1
}

// The relaxations' element-wise pass keeps each row's sums in SIMD lanes; a
// value in any lane, or in the tail past the last whole group of lanes,
// counts. 37 values a row: two groups of 16 and a tail of 5.
TEST_CASE("a row's sums count every value, whichever lane it falls in") {
  const Index B = 3, n = 37;
  for (Index bad = 0; bad < n; ++bad) {
    std::vector<int> calls(B * n, 0);
    std::vector<double> sq(B), step_sq(B);
    std::vector<char> finite(B);
    update_rows<float>(nullptr, B, n, sq.data(), step_sq.data(), finite.data(), [&](Index k) {
      ++calls[k];
      const float i = static_cast<float>(k % n + 1);  // 1..37: the sums are exact in float
      const float updated = k == n + bad ? std::numeric_limits<float>::infinity() : i;  // row 1's value `bad`
      return ValueUpdate<float>{i, 2 * i, updated};
    });
    CAPTURE(bad);
    CHECK(std::all_of(calls.begin(), calls.end(), [](int c) { return c == 1; }));
    for (Index r = 0; r < B; ++r) {
      CHECK(sq[r] == 17575);  // Σ i², i = 1..37
      CHECK(step_sq[r] == 4 * 17575);
      CHECK(static_cast<bool>(finite[r]) == (r != 1));
    }
  }
}

TEST_CASE("Strict honours a given initial belief vinit") {
  Problem p = five_layer_problem(LossKind::MSE);
  PCResult<double> r400 = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 400);
  const auto g400 = gradients(p.model);
  PCResult<double> r401 = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 401);
  const auto g401 = gradients(p.model);
  PCResult<double> resumed = pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 1, &r400.v);
  // One sweep from v^(400) is the 401st sweep from v̂.
  for (Index l = 1; l <= 5; ++l) {
    CHECK(relative_difference(resumed.v[l], r401.v[l]) == 0);
    CHECK(relative_difference(resumed.eps[l], r401.eps[l]) == 0);
  }
  CHECK(max_rel_error(gradients(p.model), g401) == 0);
  CHECK(max_rel_error(g400, g401) > 0);
  // A vinit of the wrong shape is an error.
  std::vector<Tensor<double>> bad(6);
  bad[2] = Tensor<double>({3, 3});
  CHECK_THROWS_AS(pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 1, &bad), Error);
}

TEST_CASE("the observer records energy and each layer's eps norm per iteration, Strict's energy descends") {
  Problem p = five_layer_problem(LossKind::MSE);
  std::vector<SweepStats> record;
  pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 50, nullptr, &record);
  REQUIRE(record.size() == 50);
  for (size_t i = 1; i < record.size(); ++i) CHECK(record[i].energy <= record[i - 1].energy);
  CHECK(std::isnan(record.back().eps_norm[0]));  // Strict has no eps_0
  for (Index l = 1; l <= 5; ++l) CHECK(record.back().eps_norm[l] > 0);
  // The first Strict iteration starts at v = v̂: energy = the feed-forward loss.
  CHECK(record[0].energy == doctest::Approx(loss_value(LossKind::MSE, p.model.predict(p.X), p.Y)).epsilon(1e-14));
}

TEST_CASE("unknown error types and unusable eta or n are errors") {
  CHECK_THROWS_AS(parse_err_type("backprop"), Error);
  CHECK(parse_err_type("FixedPred") == ErrType::FixedPred);
  Problem p = five_layer_problem(LossKind::MSE);
  CHECK_THROWS_AS(pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Strict, 0.1, 0), Error);
  CHECK_THROWS_AS(pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, -1.0, 5), Error);
  CHECK_THROWS_AS(pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, std::nan(""), 5), Error);
  Tensor<double> wrong({16, 7});
  CHECK_THROWS_WITH_AS(pc_infer_poisoned(p.model, wrong, p.Y, ErrType::Exact, 0.0, 0), doctest::Contains("shape"), Error);
}

// float32 loses digits to the cancellation in eps = v̂ − v (the spec's
// "Precision" section), hence 1e-3 and not 1e-6.
TEST_CASE("float32 and float64 agree to float32 precision") {
  Problem p = five_layer_problem(LossKind::CrossEntropy);
  Model<float> m32(p.model.spec());
  auto p64 = p.model.parameters();
  auto p32 = m32.parameters();
  for (size_t i = 0; i < p64.size(); ++i) p32[i].param->value = tensor_cast<float>(p64[i].param->value);
  Targets<float> y32;
  y32.labels = p.Y.labels;
  pc_infer_poisoned(p.model, p.X, p.Y, ErrType::FixedPred, 0.1, 20);
  pc_infer_poisoned(m32, tensor_cast<float>(p.X), y32, ErrType::FixedPred, 0.1f, 20);
  for (size_t i = 0; i < p64.size(); ++i)
    CHECK(relative_difference(tensor_cast<double>(p32[i].param->grad), p64[i].param->grad) < 1e-3);
}
