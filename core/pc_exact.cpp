// Exact: backprop, as Torch2PC's ErrType="Exact" returns it.
#include "pc_infer.h"

namespace pcplay {

// eps_l = δ_l = dLoss/dv̂_l by backprop, v_l = v̂_l − eps_l, and the ordinary
// backprop gradients Jθ_l(v̂_{l-1})^T δ_l, all in one backward pass:
//   eps_L = dLoss(v̂_L, Y)/dv̂_L;   eps_{l-1} = J_l(v̂_{l-1})^T eps_l
template <typename T>
void PCInference<T>::start_exact() {
  const Index L = model_.depth();
  eps[L] = dLdy;
  for (Index l = L; l >= 1; --l)
    model_.f(l).backward(vhat[l - 1], trace_[l], eps[l], l > 1 ? &eps[l - 1] : nullptr, true);
  for (Index l = 1; l <= L; ++l) {
    v[l] = vhat[l];
    v[l].array() -= eps[l].array();
  }
  complete_gradients();
}

template void PCInference<float>::start_exact();
template void PCInference<double>::start_exact();

}  // namespace pcplay
