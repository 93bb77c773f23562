// ePC: error-based predictive coding (Goemaere et al., "Error Optimization:
// Overcoming Exponential Signal Decay in Deep Predictive Coding Networks",
// 2025). Strict's energy, descended over the errors instead of the beliefs.
// The beliefs are a function of the errors,
//   v_0 = X,   v_l = f_l(v_{l-1}) − eps_l  (l = 1..L−1),   ṽ_L = f_L(v_{L-1})
//   F(eps) = ½ Σ_{l<L} ‖eps_l‖² + Loss(ṽ_L, Y)
// so that ∂F/∂eps_l = eps_l − δ_l with δ_l = ∂Loss/∂v_l, backprop's error
// through the current beliefs: a change at the output reaches every layer in
// one iteration, where Strict's moves one layer per iteration.
#include "pc_infer.h"

#include "row_update.h"

namespace pcplay {

// v_l = f_l(v_{l-1}) − eps_l for l < L, and ṽ_L = f_L(v_{L-1}), with every
// block's trace at its input (f_1's, at X, is the forward pass's): of the
// batch, or of one share's rows (`traces`, v and eps views of its rows).
template <typename T>
void PCInference<T>::beliefs_from_errors(std::vector<BlockTrace<T>>& traces, std::vector<Tensor<T>>& v_rows,
                                         const std::vector<Tensor<T>>& eps_rows, const Tensor<T>& f1) {
  const Index L = model_.depth();
  for (Index l = 1; l < L; ++l) {
    const Tensor<T>& prediction = l == 1 ? f1 : model_.f(l).forward(v_rows[l - 1], traces[l]);
    v_rows[l].array() = prediction.array() - eps_rows[l].array();
  }
  if (L > 1) model_.f(L).forward(v_rows[L - 1], traces[L]);
}

// One iteration, synchronous (one forward and one backward pass):
//   forward   v_l from the current eps;  eps_L = δ_L = ∂Loss(ṽ_L, Y)/∂ṽ_L
//   backward  δ_l = J_{l+1}(v_l)^T δ_{l+1},   l = L−1 .. 1
//   update    eps_l −= η (eps_l − δ_l),       l = 1 .. L−1
// Each thread takes its share of the rows through both passes (as Strict's
// sweep does, pc_strict.cpp).
template <typename T>
void PCInference<T>::sweep_epc() {
  const Index L = model_.depth();
  for_each_share([&](int part, Index, Index) {
    Share& s = shares_[part];
    beliefs_from_errors(*s.trace, s.v, s.eps, s.f1);
    share_top(s);
  });
  belief_loss_ = loss_value(model_.loss(), top(), *Y_, &eps[L]);
  for_each_share([&](int part, Index first, Index) {
    Share& s = shares_[part];
    const Tensor<T>* delta = &s.eps[L];
    for (Index l = L - 1; l >= 1; --l) {
      model_.f(l + 1).backward(s.v[l], (*s.trace)[l + 1], *delta, &s.vjp[l], false);
      delta = &s.vjp[l];
    }
    // eps_l −= η (eps_l − δ_l), with Σ eps² before the step (the energy of
    // the beliefs this iteration used) and Σ (eps − δ)²
    const T rate = eta;  // a local: a member is read through `this`, which a store might alias
    for (Index l = 1; l < L; ++l) {
      const T* d = s.vjp[l].data();
      T* e = s.eps[l].data();
      update_rows<T>(model_.thread_pool(), s.eps[l].rows(), s.eps[l].cols(), row_sq(l) + first,
                     row_step_sq(l) + first, row_finite(l) + first, [=](Index k) {
                       const T before = e[k], step = before - d[k];
                       e[k] -= rate * step;
                       return ValueUpdate<T>{before, step, e[k]};
                     });
    }
  });
  for (Index l = 1; l < L; ++l) record_rows(l);
}

// At the beliefs the final errors make, Strict's gradients, with eps_L at
// them: grad θ_l = Jθ_l(v_{l-1})^T eps_l (each block's own error: local).
template <typename T>
void PCInference<T>::gradients_epc() {
  const Index L = model_.depth();
  beliefs_from_errors(trace_, v, eps, trace_[1].output());
  loss_value(model_.loss(), trace_[L].output(), *Y_, &eps[L]);
  for (Index l = 1; l <= L; ++l) model_.f(l).backward(v[l - 1], trace_[l], eps[l], nullptr, true);
  complete_gradients();
}

template void PCInference<float>::beliefs_from_errors(std::vector<BlockTrace<float>>&, std::vector<Tensor<float>>&,
                                                         const std::vector<Tensor<float>>&, const Tensor<float>&);
template void PCInference<double>::beliefs_from_errors(std::vector<BlockTrace<double>>&, std::vector<Tensor<double>>&,
                                                         const std::vector<Tensor<double>>&, const Tensor<double>&);
template void PCInference<float>::sweep_epc();
template void PCInference<double>::sweep_epc();
template void PCInference<float>::gradients_epc();
template void PCInference<double>::gradients_epc();

}  // namespace pcplay
