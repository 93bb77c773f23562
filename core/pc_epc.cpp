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

#include "thread_pool.h"

namespace pcplay {

namespace {

// eps −= η (eps − δ), rows in parallel, with each row's Σ eps² (before the
// step: the energy of the beliefs this iteration used), Σ (eps − δ)², and
// whether its eps stayed finite.
template <typename T>
void descend_rows(ThreadPool* pool, const Tensor<T>& delta, T eta, Tensor<T>& eps, std::vector<double>& row_sq,
                  std::vector<double>& row_step_sq, std::vector<char>& row_finite) {
  const Index B = eps.rows(), n = eps.cols();
  row_sq.resize(static_cast<size_t>(B));
  row_step_sq.resize(static_cast<size_t>(B));
  row_finite.resize(static_cast<size_t>(B));
  parallel_for(pool, B, min_rows(n), [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      const T* d = delta.data() + r * n;
      T* e = eps.data() + r * n;
      T sq = 0, step_sq = 0, finite = 0;
      for (Index i = 0; i < n; ++i) {
        const T step = e[i] - d[i];
        sq += e[i] * e[i];
        step_sq += step * step;
        e[i] -= eta * step;
        finite += e[i] - e[i];
      }
      row_sq[r] = static_cast<double>(sq);
      row_step_sq[r] = static_cast<double>(step_sq);
      row_finite[r] = finite == 0;
    }
  });
}

}  // namespace

// v_l = f_l(v_{l-1}) − eps_l for l < L, and ṽ_L = f_L(v_{L-1}), with every
// block's trace at its input (f_1's, at X, is the forward pass's).
template <typename T>
void PCInference<T>::beliefs_from_errors() {
  const Index L = model_.depth();
  for (Index l = 1; l <= L; ++l) {
    if (l > 1) model_.f(l).forward(v[l - 1], trace_[l]);
    if (l == L) break;
    v[l].resize(trace_[l].output().shape());
    v[l].array() = trace_[l].output().array() - eps[l].array();
  }
}

// One iteration, synchronous (one forward and one backward pass):
//   forward   v_l from the current eps;  eps_L = δ_L = ∂Loss(ṽ_L, Y)/∂ṽ_L
//   backward  δ_l = J_{l+1}(v_l)^T δ_{l+1},   l = L−1 .. 1
//   update    eps_l −= η (eps_l − δ_l),       l = 1 .. L−1
template <typename T>
void PCInference<T>::sweep_epc() {
  const Index L = model_.depth();
  beliefs_from_errors();
  belief_loss_ = loss_value(model_.loss(), trace_[L].output(), *Y_, &eps[L]);
  const Tensor<T>* delta = &eps[L];
  for (Index l = L - 1; l >= 1; --l) {
    model_.f(l + 1).backward(v[l], trace_[l + 1], *delta, &vjp_[l], false);
    delta = &vjp_[l];
  }
  for (Index l = 1; l < L; ++l) {
    descend_rows(model_.thread_pool(), vjp_[l], eta, eps[l], row_sq_, row_step_sq_, row_finite_);
    record_rows(l);
  }
}

// At the beliefs the final errors make, Strict's gradients, with eps_L at
// them: grad θ_l = Jθ_l(v_{l-1})^T eps_l (each block's own error: local).
template <typename T>
void PCInference<T>::gradients_epc() {
  const Index L = model_.depth();
  beliefs_from_errors();
  loss_value(model_.loss(), trace_[L].output(), *Y_, &eps[L]);
  for (Index l = 1; l <= L; ++l) model_.f(l).backward(v[l - 1], trace_[l], eps[l], nullptr, true);
  complete_gradients();
}

template void PCInference<float>::beliefs_from_errors();
template void PCInference<double>::beliefs_from_errors();
template void PCInference<float>::sweep_epc();
template void PCInference<double>::sweep_epc();
template void PCInference<float>::gradients_epc();
template void PCInference<double>::gradients_epc();

}  // namespace pcplay
