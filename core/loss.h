// Losses with PyTorch's mean reduction, each returning its value and writing
// its gradient dLoss/dyhat next to it.
//   MSE:           mean over all B*K elements of (yhat - y)^2; y [B, K] reals
//   cross-entropy: mean over the batch of -log softmax(yhat)[label]
// A share of a batch split among processes (collective.h) is divided by the
// whole batch's count, B_total (Targets::batch_total), not its own B: its
// value and gradient are its part of the whole batch's, which they sum to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "names.h"
#include "tensor.h"

namespace pcplay {

enum class LossKind { MSE, CrossEntropy };

const std::vector<Named<LossKind>>& loss_kinds();  // "mse", "cross_entropy"
LossKind parse_loss(const std::string& name);      // any case; throws Error
std::string loss_name(LossKind loss);

// What a batch is compared with: real targets for MSE, class labels for
// cross-entropy. Labels are kept for MSE too when the targets are one-hot, so
// that accuracy can be reported.
template <typename T>
struct Targets {
  Tensor<T> values;             // [B, K] (MSE)
  std::vector<int64_t> labels;  // [B]    (cross-entropy; optional for MSE)
  Index batch_total = 0;        // the batch these B rows are a share of (0: these rows alone)
};

// Targets for `loss` from class labels: one-hot rows for MSE. Throws Error
// for a label outside [0, num_classes).
template <typename T>
Targets<T> targets_from_labels(LossKind loss, const std::vector<int64_t>& labels, Index num_classes);

// Throws Error unless `y` fits model outputs [B, K] for `loss`.
template <typename T>
void check_targets(LossKind loss, const Targets<T>& y, Index batch, Index num_outputs);

// `batch_total`: the rows the mean is over (0: yhat's own).
template <typename T>
T mse_loss(const Tensor<T>& yhat, const Tensor<T>& target, Tensor<T>* dyhat, Index batch_total = 0);

template <typename T>
T cross_entropy_loss(const Tensor<T>& yhat, const std::vector<int64_t>& labels, Tensor<T>* dyhat,
                     Index batch_total = 0);

template <typename T>
T loss_value(LossKind loss, const Tensor<T>& yhat, const Targets<T>& y, Tensor<T>* dyhat = nullptr);

// Rows whose arg-max matches the label (or the target's arg-max), and their
// fraction of the rows.
template <typename T>
Index correct_predictions(const Tensor<T>& yhat, const Targets<T>& y);
template <typename T>
double accuracy(const Tensor<T>& yhat, const Targets<T>& y);

}  // namespace pcplay
