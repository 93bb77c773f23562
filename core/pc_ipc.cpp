// iPC: incremental predictive coding (Salvatori et al., "A stable, fast, and
// fully automatic learning algorithm for predictive coding networks", ICLR
// 2024). Strict's energy F(v, θ), descended over the beliefs and the weights
// together: every inference iteration also updates θ, so a batch makes n
// weight updates, not one.
#include "pc_infer.h"

namespace pcplay {

// Iteration t, at the current (v, θ):
//   1. eps_l for every l (eps_L at ṽ_L = f_L(v_{L-1}));
//   2. g_l = Jθ_l(v_{l-1})^T eps_l, the gradient of F at (v, θ);
//   3. v_l += η (eps_l − J_{l+1}(v_l)^T eps_{l+1}), l = L−1 .. 1 (Strict's sweep, same eps);
//   4. one optimizer step on θ with g (its state carries across iterations and batches).
// Steps 1–3 are Strict's sweep (pc_strict.cpp) with its parameter VJPs taken
// on the way down, in one backward pass. The weights change between
// sweeps, so f_1(X) is evaluated again each time. The gradient is a sum
// over the whole batch at every iteration, so the layers take the batch
// whole here, not by row shares as Strict's sweep does.
template <typename T>
void PCInference<T>::sweep_ipc() {
  const Index L = model_.depth();
  for (Index l = 1; l <= L; ++l) model_.f(l).forward(v[l - 1], trace_[l]);
  belief_loss_ = loss_value(model_.loss(), trace_[L].output(), *Y_, &eps[L]);
  for (Index l = L - 1; l >= 1; --l) {
    model_.f(l + 1).backward(v[l], trace_[l + 1], eps[l + 1], &vjp_[l], true);
    relax_layer(l, trace_[l].output(), vjp_[l], v[l], eps[l], 0);
    record_rows(l);
  }
  model_.f(1).backward(v[0], trace_[1], eps[1], nullptr, true);
}

// Step 4: sweep() measures the sweep's errors, then calls this, unless a
// value went non-finite.
template <typename T>
void PCInference<T>::learn_ipc() {
  if (divergence_.kind == Divergence::Kind::NonFinite) return;
  complete_gradients();
  if (divergence_.kind == Divergence::Kind::NonFinite) return;
  optimizer_->step(params_);
  for (size_t i = 0; i < params_.size(); ++i) {
    Param<T>& p = *params_[i].param;
    grad_sum_[i].array() += p.grad.array();
    if (!p.value.all_finite()) return flag_non_finite(params_[i].block, "weights");
  }
}

// The weights have learned already. What is left in grad is the mean of the
// gradients the iterations applied: with SGD, the batch's whole update is
// −lr · n · that mean, so it is the one to hold against backprop's.
template <typename T>
void PCInference<T>::gradients_ipc() {
  for (size_t i = 0; i < params_.size(); ++i)
    params_[i].param->grad.array() = grad_sum_[i].array() / static_cast<T>(iterations_);
}

template void PCInference<float>::sweep_ipc();
template void PCInference<double>::sweep_ipc();
template void PCInference<float>::learn_ipc();
template void PCInference<double>::learn_ipc();
template void PCInference<float>::gradients_ipc();
template void PCInference<double>::gradients_ipc();

}  // namespace pcplay
