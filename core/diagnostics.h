// How far one set of gradients is from another (PC's from backprop's), per
// PC layer, as the paper measures it: on the weight of each block's first
// layer that has parameters, the relative error ‖g − g_ref‖/‖g_ref‖ and the
// angle acos(cos)·180/π.
#pragma once

#include <limits>
#include <vector>

#include "pc_infer.h"

namespace pcplay {

struct GradientAgreement {
  double rel_error;  // NaN when the reference is zero
  double angle_deg;  // NaN when either gradient is zero
  // ‖g‖ / ‖reference‖: the share of backprop's signal PC's update carries
  // (the signal decay of deep Strict nets); NaN when the reference is zero.
  double norm_ratio = std::numeric_limits<double>::quiet_NaN();
};

template <typename T>
GradientAgreement gradient_agreement(const Tensor<T>& g, const Tensor<T>& reference);

// Copies of every parameter's grad, in the order of model.parameters().
template <typename T>
std::vector<Tensor<T>> gradients(Model<T>& model);

// One entry per block f_1..f_L (NaN for a block without parameters).
template <typename T>
std::vector<GradientAgreement> agreement_per_block(Model<T>& model, const std::vector<Tensor<T>>& grads,
                                                   const std::vector<Tensor<T>>& reference);

// The paper's figures 2 and 4: per block, the agreement of PC's gradient with
// backprop's on one batch after n inference iterations, for each n in `ns`
// (increasing). One relaxation serves all n: gradients are taken along the way.
template <typename T>
std::vector<std::vector<GradientAgreement>> agreement_vs_iterations(Model<T>& model, const Tensor<T>& X,
                                                                    const Targets<T>& Y, ErrType err, T eta,
                                                                    const std::vector<int>& ns);

}  // namespace pcplay
