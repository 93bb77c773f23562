// Strict: predictive coding without approximations (Torch2PC's
// ErrType="Strict"): gradient descent on the energy
//   F(v, θ) = ½ Σ_{l<L} ‖f_l(v_{l-1}) − v_l‖² + Loss(f_L(v_{L-1}), Y)
// over the beliefs v_1..v_{L-1}, then grad θ_l = ∂F/∂θ_l at the final beliefs.
#include "pc_infer.h"

namespace pcplay {

// Jacobians at the beliefs, v_0 = X and v_L fixed.
//   ṽ_L = f_L(v_{L-1});  eps_L = dLoss(ṽ_L, Y)/dṽ_L
//   eps_l = f_l(v_{l-1}) − v_l
//   v_l  += η (eps_l − J_{l+1}(v_l)^T eps_{l+1}),   l = L-1 .. 1
// Every f_l(v_{l-1}) is evaluated before any belief changes (synchronous).
// Each sample relaxes on its own but for the loss's mean, so each thread
// takes its share of the rows through every block (two hand-offs a sweep,
// before and after the loss, not one per layer call); the arithmetic of a
// sample is the same however the rows are shared.
template <typename T>
void PCInference<T>::sweep_strict() {
  const Index L = model_.depth();
  // f_l(v_{l-1}), l = 2..L (v_0 = X and θ never change: the forward pass's
  // f_1(X) serves every sweep).
  for_each_share([&](int part, Index, Index) {
    Share& s = shares_[part];
    for (Index l = 2; l <= L; ++l) model_.f(l).forward(s.v[l - 1], (*s.trace)[l]);
    share_top(s);
  });
  belief_loss_ = loss_value(model_.loss(), top(), *Y_, &eps[L]);
  for (Index l = 1; l < L; ++l) eps[l].resize(v[l].shape());
  for_each_share([&](int part, Index first, Index) {
    Share& s = shares_[part];
    for (Index l = L - 1; l >= 1; --l) {
      model_.f(l + 1).backward(s.v[l], (*s.trace)[l + 1], s.eps[l + 1], &s.vjp[l], false);
      relax_layer(l, s.prediction(l), s.vjp[l], s.v[l], s.eps[l], first);
    }
  });
  for (Index l = L - 1; l >= 1; --l) record_rows(l);
}

// grad θ_l = Jθ_l(v_{l-1})^T eps_l at the final beliefs (a forward pass at
// them renews the traces; f_1's is at X).
template <typename T>
void PCInference<T>::gradients_strict() {
  for (Index l = 1; l <= model_.depth(); ++l) {
    if (l > 1) model_.f(l).forward(v[l - 1], trace_[l]);
    model_.f(l).backward(v[l - 1], trace_[l], eps[l], nullptr, true);
  }
  complete_gradients();
}

template void PCInference<float>::sweep_strict();
template void PCInference<double>::sweep_strict();
template void PCInference<float>::gradients_strict();
template void PCInference<double>::gradients_strict();

}  // namespace pcplay
