#include "layers.h"

#include <algorithm>
#include <cmath>

#include "error.h"

namespace pcplay {
namespace {

Shape with_batch(Index batch, const Shape& sample_shape) {
  Shape s{batch};
  s.insert(s.end(), sample_shape.begin(), sample_shape.end());
  return s;
}

template <typename T>
Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> as_row(const Tensor<T>& t) {
  return Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(t.data(), t.size());
}
template <typename T>
Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> as_row(Tensor<T>& t) {
  return Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(t.data(), t.size());
}

// ---------------------------------------------------------------------------
// Linear: y = x W^T + b.   x [B, in], W [out, in], b [out], y [B, out]
template <typename T>
class Linear final : public Layer<T> {
 public:
  Linear(Index in, Index out, bool bias) {
    this->in_shape = {in};
    this->out_shape = {out};
    this->params.push_back({"weight", Tensor<T>({out, in}), Tensor<T>({out, in})});
    if (bias) this->params.push_back({"bias", Tensor<T>({out}), Tensor<T>({out})});
  }

  void forward(const Tensor<T>& x, Tensor<T>& y) const override {
    const Tensor<T>& W = this->params[0].value;
    y.resize({x.rows(), W.rows()});
    y.matrix().noalias() = x.matrix() * W.matrix().transpose();
    if (this->params.size() > 1) y.matrix().rowwise() += as_row(this->params[1].value);
  }

  // gx [B, in] = gy [B, out] W [out, in]
  void vjp_input(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& gy,
                 Tensor<T>& gx) const override {
    gx.resize(x.shape());
    gx.matrix().noalias() = gy.matrix() * this->params[0].value.matrix();
  }

  // gW [out, in] = gy^T x;  gb [out] = sum over the batch of gy
  void vjp_params(const Tensor<T>& x, const Tensor<T>& gy) override {
    this->params[0].grad.matrix().noalias() = gy.matrix().transpose() * x.matrix();
    if (this->params.size() > 1) as_row(this->params[1].grad) = gy.matrix().colwise().sum();
  }

  // U(-1/sqrt(in), 1/sqrt(in)) for W and b: PyTorch's kaiming_uniform_(a=sqrt(5))
  // reduces to this bound.
  void init(Rng& rng) override {
    const double bound = 1.0 / std::sqrt(static_cast<double>(this->in_shape[0]));
    for (Param<T>& p : this->params)
      for (Index i = 0; i < p.value.size(); ++i) p.value[i] = static_cast<T>(rng.uniform(-bound, bound));
  }
};

// ---------------------------------------------------------------------------
// Element-wise activations: y = f(x), gx = f'(x) * gy, with f' read from y
// where that is exact (ReLU'(0) = 0 as in PyTorch: y > 0 iff x > 0).
template <typename T>
class Elementwise : public Layer<T> {
 public:
  explicit Elementwise(const Shape& shape) {
    this->in_shape = shape;
    this->out_shape = shape;
  }
};

template <typename T>
class ReLU final : public Elementwise<T> {
 public:
  using Elementwise<T>::Elementwise;
  void forward(const Tensor<T>& x, Tensor<T>& y) const override {
    y.resize(x.shape());
    y.array() = x.array().max(T(0));
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy,
                 Tensor<T>& gx) const override {
    gx.resize(x.shape());
    gx.array() = (y.array() > T(0)).select(gy.array(), T(0));
  }
};

template <typename T>
class Tanh final : public Elementwise<T> {
 public:
  using Elementwise<T>::Elementwise;
  void forward(const Tensor<T>& x, Tensor<T>& y) const override {
    y.resize(x.shape());
    y.array() = x.array().tanh();
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy,
                 Tensor<T>& gx) const override {
    gx.resize(x.shape());
    gx.array() = gy.array() * (T(1) - y.array().square());
  }
};

template <typename T>
class Sigmoid final : public Elementwise<T> {
 public:
  using Elementwise<T>::Elementwise;
  void forward(const Tensor<T>& x, Tensor<T>& y) const override {
    y.resize(x.shape());
    y.array() = T(1) / (T(1) + (-x.array()).exp());
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy,
                 Tensor<T>& gx) const override {
    gx.resize(x.shape());
    gx.array() = gy.array() * y.array() * (T(1) - y.array());
  }
};

template <typename T>
class Identity final : public Elementwise<T> {
 public:
  using Elementwise<T>::Elementwise;
  void forward(const Tensor<T>& x, Tensor<T>& y) const override {
    y.resize(x.shape());
    y.array() = x.array();
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& gy,
                 Tensor<T>& gx) const override {
    gx.resize(x.shape());
    gx.array() = gy.array();
  }
};

// ---------------------------------------------------------------------------
// Flatten: [B, d1, d2, ...] -> [B, d1*d2*...]; the data is already contiguous.
template <typename T>
class Flatten final : public Layer<T> {
 public:
  explicit Flatten(const Shape& in) {
    this->in_shape = in;
    this->out_shape = {shape_numel(in)};
  }
  void forward(const Tensor<T>& x, Tensor<T>& y) const override {
    y.resize(with_batch(x.rows(), this->out_shape));
    y.array() = x.array();
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& gy,
                 Tensor<T>& gx) const override {
    gx.resize(x.shape());
    gx.array() = gy.array();
  }
};

}  // namespace

const std::vector<std::string>& layer_types() {
  static const std::vector<std::string> types = {"linear", "relu", "tanh", "sigmoid", "identity", "flatten"};
  return types;
}

template <typename T>
std::unique_ptr<Layer<T>> make_layer(const LayerSpec& spec, const Shape& in_shape) {
  const std::string& t = spec.type;
  if (t == "linear") {
    if (in_shape.size() != 1)
      throw Error("linear expects a flat input but gets " + shape_str(in_shape) + "; add a flatten layer before it");
    if (spec.in != 0 && spec.in != in_shape[0])
      throw Error("linear states in=" + std::to_string(spec.in) + " but its input has " +
                  std::to_string(in_shape[0]) + " features");
    if (spec.out < 1) throw Error("linear needs out >= 1");
    if (static_cast<double>(spec.out) * static_cast<double>(in_shape[0]) > kMaxLayerParameters)
      throw Error("linear " + std::to_string(in_shape[0]) + " -> " + std::to_string(spec.out) +
                  " would hold more than " + std::to_string(kMaxLayerParameters) + " weights");
    return std::make_unique<Linear<T>>(in_shape[0], spec.out, spec.bias);
  }
  if (t == "relu") return std::make_unique<ReLU<T>>(in_shape);
  if (t == "tanh") return std::make_unique<Tanh<T>>(in_shape);
  if (t == "sigmoid") return std::make_unique<Sigmoid<T>>(in_shape);
  if (t == "identity") return std::make_unique<Identity<T>>(in_shape);
  if (t == "flatten") return std::make_unique<Flatten<T>>(in_shape);
  throw Error("unknown layer type \"" + t + "\"");
}

template std::unique_ptr<Layer<float>> make_layer<float>(const LayerSpec&, const Shape&);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerSpec&, const Shape&);

}  // namespace pcplay
