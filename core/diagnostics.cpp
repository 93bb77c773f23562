#include "diagnostics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pcplay {

template <typename T>
GradientAgreement gradient_agreement(const Tensor<T>& g, const Tensor<T>& reference) {
  const auto a = g.array().template cast<double>();
  const auto b = reference.array().template cast<double>();
  const double norm_a = std::sqrt(a.square().sum()), norm_b = std::sqrt(b.square().sum());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  GradientAgreement r;
  r.rel_error = norm_b > 0 ? std::sqrt((a - b).square().sum()) / norm_b : nan;
  r.norm_ratio = norm_b > 0 ? norm_a / norm_b : nan;
  if (norm_a > 0 && norm_b > 0) {
    const double cosine = std::clamp((a * b).sum() / (norm_a * norm_b), -1.0, 1.0);
    r.angle_deg = std::acos(cosine) * 180.0 / 3.14159265358979323846;
  } else {
    r.angle_deg = nan;
  }
  return r;
}

template <typename T>
std::vector<Tensor<T>> gradients(Model<T>& model) {
  std::vector<Tensor<T>> out;
  for (const NamedParam<T>& p : model.parameters()) out.push_back(p.param->grad);
  return out;
}

template <typename T>
std::vector<GradientAgreement> agreement_per_block(Model<T>& model, const std::vector<Tensor<T>>& grads,
                                                   const std::vector<Tensor<T>>& reference) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<GradientAgreement> out(model.depth(), {nan, nan});
  std::vector<bool> seen(model.depth(), false);
  const auto params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const Index l = params[i].block;
    if (seen[l - 1]) continue;  // only the block's first weight
    seen[l - 1] = true;
    out[l - 1] = gradient_agreement(grads[i], reference[i]);
  }
  return out;
}

template <typename T>
std::vector<std::vector<GradientAgreement>> agreement_vs_iterations(Model<T>& model, const Tensor<T>& X,
                                                                    const Targets<T>& Y, ErrType err, T eta,
                                                                    const std::vector<int>& ns) {
  pc_infer(model, X, Y, ErrType::Exact, 0, 0);
  const std::vector<Tensor<T>> bp = gradients(model);
  PCInference<T> inference(model, err, eta);
  inference.start(X, Y);
  std::vector<std::vector<GradientAgreement>> out;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int n : ns) {
    while (inference.iterations() < n && inference.divergence().kind != Divergence::Kind::NonFinite) inference.sweep();
    if (inference.iterations() < n) {  // stopped at a non-finite value
      out.emplace_back(model.depth(), GradientAgreement{nan, nan});
      continue;
    }
    inference.set_gradients();
    out.push_back(agreement_per_block(model, gradients(model), bp));
  }
  return out;
}

#define PCPLAY_INSTANTIATE(T)                                                                          \
  template GradientAgreement gradient_agreement<T>(const Tensor<T>&, const Tensor<T>&);                \
  template std::vector<Tensor<T>> gradients<T>(Model<T>&);                                             \
  template std::vector<GradientAgreement> agreement_per_block<T>(Model<T>&, const std::vector<Tensor<T>>&, \
                                                                 const std::vector<Tensor<T>>&); \
  template std::vector<std::vector<GradientAgreement>> agreement_vs_iterations<T>(                      \
      Model<T>&, const Tensor<T>&, const Targets<T>&, ErrType, T, const std::vector<int>&);
PCPLAY_INSTANTIATE(float)
PCPLAY_INSTANTIATE(double)

}  // namespace pcplay
