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
// `learning` is iPC's use of this sweep (pc_ipc.cpp): the weights change
// between its sweeps, so f_1(X) is evaluated again, and the same backward
// pass leaves grad θ_l = Jθ_l(v_{l-1})^T eps_l at the beliefs before the update.
template <typename T>
void PCInference<T>::sweep_strict(bool learning) {
  const Index L = model_.depth();
  // f_l(v_{l-1}) = trace_[l].output(). Without learning, v_0 = X and θ never
  // change, so the forward pass's trace of f_1 serves every sweep.
  for (Index l = learning ? 1 : 2; l <= L; ++l) model_.f(l).forward(v[l - 1], trace_[l]);
  belief_loss_ = loss_value(model_.loss(), trace_[L].output(), *Y_, &eps[L]);
  for (Index l = L - 1; l >= 1; --l) {
    model_.f(l + 1).backward(v[l], trace_[l + 1], eps[l + 1], &vjp_[l], learning);
    relax_layer(l, trace_[l].output());
  }
  if (learning) model_.f(1).backward(v[0], trace_[1], eps[1], nullptr, true);
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

template void PCInference<float>::sweep_strict(bool);
template void PCInference<double>::sweep_strict(bool);
template void PCInference<float>::gradients_strict();
template void PCInference<double>::gradients_strict();

}  // namespace pcplay
