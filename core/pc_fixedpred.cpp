// FixedPred: PC under the fixed-prediction assumption (Torch2PC's
// ErrType="FixedPred"; Millidge et al. 2020).
#include "pc_infer.h"

namespace pcplay {

// Jacobians at v̂ (its traces never change); eps_L = dLdy is fixed.
//   eps_k = v̂_k − v_k
//   v_k  += η (eps_k − J_{k+1}(v̂_k)^T eps_{k+1}),   k = L-1 .. 0
// eps_{k+1} is computed before v_{k+1} changes, so the sweep is synchronous.
template <typename T>
void PCInference<T>::sweep_fixedpred() {
  const Index L = model_.depth();
  for (Index k = L - 1; k >= 0; --k) {
    model_.f(k + 1).backward(vhat[k], trace_[k + 1], eps[k + 1], &vjp_[k], false);
    relax_layer(k, vhat[k]);
  }
}

// grad θ_l = Jθ_l(v̂_{l-1})^T eps_l
template <typename T>
void PCInference<T>::gradients_fixedpred() {
  for (Index l = 1; l <= model_.depth(); ++l) model_.f(l).backward(vhat[l - 1], trace_[l], eps[l], nullptr, true);
  complete_gradients();
}

template void PCInference<float>::sweep_fixedpred();
template void PCInference<double>::sweep_fixedpred();
template void PCInference<float>::gradients_fixedpred();
template void PCInference<double>::gradients_fixedpred();

}  // namespace pcplay
