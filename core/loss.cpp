#include "loss.h"

#include <cmath>

#include "error.h"

namespace pcplay {

const std::vector<Named<LossKind>>& loss_kinds() {
  static const std::vector<Named<LossKind>> kinds = {{LossKind::CrossEntropy, "cross_entropy", "cross-entropy"},
                                                     {LossKind::MSE, "mse", "MSE"}};
  return kinds;
}

LossKind parse_loss(const std::string& name) { return parse_named(loss_kinds(), name, "loss"); }
std::string loss_name(LossKind loss) { return named(loss_kinds(), loss).name; }

namespace {

void check_labels(const std::vector<int64_t>& labels, Index num_classes) {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= num_classes)
      throw Error("label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) + " is out of range [0, " +
                  std::to_string(num_classes) + ")");
}

}  // namespace

template <typename T>
Targets<T> targets_from_labels(LossKind loss, const std::vector<int64_t>& labels, Index num_classes) {
  check_labels(labels, num_classes);
  Targets<T> y;
  y.labels = labels;
  if (loss == LossKind::MSE) {
    y.values = Tensor<T>({static_cast<Index>(labels.size()), num_classes});
    for (size_t i = 0; i < labels.size(); ++i) y.values.matrix()(i, labels[i]) = T(1);
  }
  return y;
}

template <typename T>
void check_targets(LossKind loss, const Targets<T>& y, Index batch, Index num_outputs) {
  if (loss == LossKind::MSE) {
    const Shape& shape = y.values.shape();
    if (shape.size() != 2 || shape[0] != batch || shape[1] != num_outputs)
      throw Error("mse targets must have shape " + shape_str({batch, num_outputs}) + ", got " +
                  (y.values.defined() ? shape_str(y.values.shape()) : "none"));
  } else {
    if (static_cast<Index>(y.labels.size()) != batch)
      throw Error("cross_entropy needs " + std::to_string(batch) + " integer labels, got " +
                  std::to_string(y.labels.size()));
  }
  check_labels(y.labels, num_outputs);
}

// L = sum (yhat - y)^2 / (B K);  dL/dyhat = 2 (yhat - y) / (B K)
template <typename T>
T mse_loss(const Tensor<T>& yhat, const Tensor<T>& target, Tensor<T>* dyhat, Index batch_total) {
  const T count = static_cast<T>(batch_total > 0 ? batch_total * yhat.cols() : yhat.size());
  const T value = (yhat.array() - target.array()).square().sum() / count;
  if (dyhat) {
    dyhat->resize(yhat.shape());
    dyhat->array() = (yhat.array() - target.array()) * (T(2) / count);
  }
  return value;
}

// L = mean_b (logsumexp(yhat_b) - yhat_b[label_b]);  dL/dyhat = (softmax - onehot) / B
template <typename T>
T cross_entropy_loss(const Tensor<T>& yhat, const std::vector<int64_t>& labels, Tensor<T>* dyhat,
                     Index batch_total) {
  const auto z = yhat.matrix();
  const Index B = z.rows(), B_total = batch_total > 0 ? batch_total : B;
  if (dyhat) dyhat->resize(yhat.shape());
  T total = 0;
  for (Index b = 0; b < B; ++b) {
    const T zmax = z.row(b).maxCoeff();
    const T logsumexp = zmax + std::log((z.row(b).array() - zmax).exp().sum());
    total += logsumexp - z(b, labels[b]);
    if (dyhat) {
      auto g = dyhat->matrix().row(b);
      g = (z.row(b).array() - logsumexp).exp().matrix() / static_cast<T>(B_total);
      g(labels[b]) -= T(1) / static_cast<T>(B_total);
    }
  }
  return total / static_cast<T>(B_total);
}

template <typename T>
T loss_value(LossKind loss, const Tensor<T>& yhat, const Targets<T>& y, Tensor<T>* dyhat) {
  return loss == LossKind::MSE ? mse_loss(yhat, y.values, dyhat, y.batch_total)
                               : cross_entropy_loss(yhat, y.labels, dyhat, y.batch_total);
}

template <typename T>
Index correct_predictions(const Tensor<T>& yhat, const Targets<T>& y) {
  const auto z = yhat.matrix();
  if (z.rows() == 0) return 0;
  if (y.labels.empty() ? y.values.rows() != z.rows() : static_cast<Index>(y.labels.size()) != z.rows())
    throw Error("accuracy: targets and outputs differ in batch size");
  Index correct = 0;
  for (Index b = 0; b < z.rows(); ++b) {
    Index predicted, expected;
    z.row(b).maxCoeff(&predicted);
    if (!y.labels.empty())
      expected = static_cast<Index>(y.labels[b]);
    else
      y.values.matrix().row(b).maxCoeff(&expected);
    correct += predicted == expected;
  }
  return correct;
}

template <typename T>
double accuracy(const Tensor<T>& yhat, const Targets<T>& y) {
  if (yhat.rows() == 0) return 0.0;
  return static_cast<double>(correct_predictions(yhat, y)) / static_cast<double>(yhat.rows());
}

#define PCPLAY_INSTANTIATE(T)                                                                         \
  template Targets<T> targets_from_labels<T>(LossKind, const std::vector<int64_t>&, Index);            \
  template void check_targets<T>(LossKind, const Targets<T>&, Index, Index);                           \
  template T mse_loss<T>(const Tensor<T>&, const Tensor<T>&, Tensor<T>*, Index);                       \
  template T cross_entropy_loss<T>(const Tensor<T>&, const std::vector<int64_t>&, Tensor<T>*, Index);  \
  template T loss_value<T>(LossKind, const Tensor<T>&, const Targets<T>&, Tensor<T>*);                 \
  template Index correct_predictions<T>(const Tensor<T>&, const Targets<T>&);                          \
  template double accuracy<T>(const Tensor<T>&, const Targets<T>&);
PCPLAY_INSTANTIATE(float)
PCPLAY_INSTANTIATE(double)

}  // namespace pcplay
