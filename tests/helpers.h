// Shared by the unit tests: random models and batches, finite differences.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "diagnostics.h"
#include "error.h"
#include "loss.h"
#include "model.h"
#include "pc_infer.h"
#include "random.h"

namespace pcplay::test {

// Converts between precisions.
template <typename To, typename From>
Tensor<To> tensor_cast(const Tensor<From>& t) {
  Tensor<To> out(t.shape());
  out.array() = t.array().template cast<To>();
  return out;
}

// Every parameter's grad set to NaN: a gradient that a call fails to write
// cannot then pass for a correct one.
template <typename T>
void poison_gradients(Model<T>& model) {
  for (const NamedParam<T>& p : model.parameters()) p.param->grad.array() = std::numeric_limits<T>::quiet_NaN();
}

// pc_infer on a model whose gradients were poisoned first.
template <typename T, typename... Args>
PCResult<T> pc_infer_poisoned(Model<T>& model, Args&&... args) {
  poison_gradients(model);
  return pc_infer(model, std::forward<Args>(args)...);
}

// A model with a batch, for the tests that hold PC against backprop.
struct Problem {
  Model<double> model;
  Tensor<double> X;
  Targets<double> Y;
};

// Backprop's gradients of the problem's model on its batch (poisoned first).
inline std::vector<Tensor<double>> backprop_gradients(Problem& p) {
  pc_infer_poisoned(p.model, p.X, p.Y, ErrType::Exact, 0.0, 0);
  return gradients(p.model);
}

template <typename T>
Tensor<T> random_tensor(const Shape& shape, Rng& rng, double lo = -1, double hi = 1) {
  Tensor<T> t(shape);
  for (Index i = 0; i < t.size(); ++i) t[i] = static_cast<T>(rng.uniform(lo, hi));
  return t;
}

// A dense net of `widths.size() - 1` blocks [linear, act], the last without act.
inline ModelSpec dense_spec(const std::vector<Index>& widths, const std::string& act, LossKind loss) {
  ModelSpec spec;
  spec.input_shape = {widths[0]};
  spec.loss = loss;
  for (size_t i = 1; i < widths.size(); ++i) {
    std::vector<LayerSpec> block = {{"linear", widths[i]}};
    if (i + 1 < widths.size()) block.push_back({act});
    spec.blocks.push_back(block);
  }
  return spec;
}

template <typename T>
Targets<T> random_targets(LossKind loss, Index batch, Index classes, Rng& rng) {
  std::vector<int64_t> labels(batch);
  for (auto& l : labels) l = static_cast<int64_t>(rng.below(classes));
  return targets_from_labels<T>(loss, labels, classes);
}

// Central difference of scalar f with respect to every element of x.
inline Tensor<double> numeric_gradient(Tensor<double>& x, const std::function<double()>& f, double h = 1e-6) {
  Tensor<double> g(x.shape());
  for (Index i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = f();
    x[i] = keep - h;
    const double down = f();
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

template <typename T>
double relative_difference(const Tensor<T>& a, const Tensor<T>& b) {
  const double denom = std::max(static_cast<double>(b.array().abs().maxCoeff()), 1e-300);
  return static_cast<double>((a.array() - b.array()).abs().maxCoeff()) / denom;
}

}  // namespace pcplay::test
