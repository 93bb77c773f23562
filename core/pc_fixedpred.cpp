// FixedPred: PC under the fixed-prediction assumption (Torch2PC's
// ErrType="FixedPred"; Millidge et al. 2020).
#include "pc_infer.h"

namespace pcplay {

// Jacobians at v̂ (its traces never change); eps_L = dLdy is fixed.
//   eps_k = v̂_k − v_k
//   v_k  += η (eps_k − J_{k+1}(v̂_k)^T eps_{k+1}),   k = L-1 .. 0
// eps_{k+1} is computed before v_{k+1} changes, so the sweep is synchronous.
// Each thread takes its share of the rows down every block (one hand-off a
// sweep, not one per layer call). With several shares, each traces its rows
// at v̂ in the relaxation's first sweep (the forward pass's traces are the
// whole batch's, kept for the parameter VJPs).
template <typename T>
void PCInference<T>::sweep_fixedpred() {
  const Index L = model_.depth();
  for (Index k = 0; k < L; ++k) eps[k].resize(v[k].shape());
  const bool trace_shares = iterations_ == 0;
  for_each_share([&](int part, Index first, Index) {
    Share& s = shares_[part];
    if (trace_shares && s.trace != &trace_)
      for (Index l = 1; l <= L; ++l) model_.f(l).forward(s.vhat[l - 1], (*s.trace)[l]);
    for (Index k = L - 1; k >= 0; --k) {
      model_.f(k + 1).backward(s.vhat[k], (*s.trace)[k + 1], s.eps[k + 1], &s.vjp[k], false);
      relax_layer(k, s.vhat[k], s.vjp[k], s.v[k], s.eps[k], first);
    }
  });
  for (Index k = L - 1; k >= 0; --k) record_rows(k);
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
