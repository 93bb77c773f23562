// Layers: each keeps its forward pass and its two vector-Jacobian products
// side by side. Shapes are per call: x is [B, in...], y is [B, out...].
//
//   forward     y  = f(x)
//   vjp_input   gx = J(x)^T gy          (J = dy/dx at x; y = f(x) is given too)
//   vjp_params  grad(theta) = Jθ(x)^T gy  (overwrites each parameter's grad)
// The VJPs are taken where the last forward pass with the same LayerWork was.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "random.h"
#include "tensor.h"

namespace pcplay {

class ThreadPool;

// One layer as the model file states it. Later layer types add fields.
struct LayerSpec {
  std::string type;  // linear, conv2d, maxpool2d, avgpool2d, relu, tanh, sigmoid, identity, flatten, scale
  Index out = 0;     // linear: output features; conv2d: output channels
  Index in = 0;      // linear, conv2d: input features/channels if stated (0 = follow the input)
  bool bias = true;  // linear, conv2d
  Index kernel = 0;  // conv2d, pools: square kernel size
  Index stride = 0;  // conv2d (default 1), pools (default = kernel)
  Index padding = 0; // conv2d: zeros on each side
  // linear, conv2d: weights drawn from N(0, 1) and biases zero (μPC's
  // initialisation, which its scale layers make depth-stable) instead of
  // PyTorch's default U(−1/√fan_in, 1/√fan_in).
  bool normal_init = false;
  double factor = 1;  // scale: y = factor · x
};

// A trainable tensor and its gradient, as PyTorch's (param, param.grad).
template <typename T>
struct Param {
  std::string name;  // "weight", "bias"; the model prefixes "block.layer."
  Tensor<T> value;
  Tensor<T> grad;
};

// What a layer's forward pass keeps for its VJPs at the same x, and its
// scratch memory: one per layer and trace, sized on first use and reused, so
// that repeated passes over one batch shape allocate nothing. FixedPred takes
// every VJP of a relaxation at v̂, so what the forward pass found there
// (pooling's maxima, convolution's patches) serves all n iterations.
template <typename T>
struct LayerWork {
  std::vector<int32_t> argmax;  // MaxPool2d: offset in its input plane of each output's maximum
  std::vector<T> cols;          // Conv2d: every sample's patches (im2col), if within kKeptPatchValues
  std::vector<std::vector<T>> part;  // scratch for each part of a parallel loop
  std::vector<std::vector<int32_t>> part_positions;  // and its positions (MaxPool2d)
  // Before a parallel loop (on the calling thread): a slot for each of `parts`.
  void prepare_parts(int parts) {
    if (part.size() < static_cast<size_t>(parts)) part.resize(static_cast<size_t>(parts));
    if (part_positions.size() < part.size()) part_positions.resize(part.size());
  }
  // Inside it: part p's scratch of at least n values (allocated once).
  T* part_buffer(int p, size_t n) { return at_least(part[p], n); }
  int32_t* part_position_buffer(int p, size_t n) { return at_least(part_positions[p], n); }

 private:
  template <typename V>
  static V* at_least(std::vector<V>& buffer, size_t n) {
    if (buffer.size() < n) buffer.resize(n);
    return buffer.data();
  }
};

// The most patch values a convolution keeps from its forward pass (64 MiB of
// floats): beyond it, its parameter VJP remakes them.
constexpr Index kKeptPatchValues = Index(1) << 24;

template <typename T>
class Layer;

// The gradient at a layer's output as the two parameter-free layers over it
// give it, one sample at a time: `above` through `between`
// (Layer::sample_vjp_input_through), from above's output y, the gradient gy
// there and what above's forward pass kept.
template <typename T>
struct SampleGradients {
  const Layer<T>& above;
  const Layer<T>& between;
  const Tensor<T>& y;
  const Tensor<T>& gy;
  const LayerWork<T>& work;
  // Sample b's gradient planes, plane r's row h at at + r·stride + h·pitch
  // (the values between its rows are left).
  void write(Index b, T* at, Index stride, Index pitch) const {
    above.sample_vjp_input_through(between, y, gy, b, at, stride, pitch, work);
  }
};

template <typename T>
class Layer {
 public:
  virtual ~Layer() = default;
  // `work` carries what forward found at x to the VJPs at the same x.
  virtual void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>& work) const = 0;
  virtual void vjp_input(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy, Tensor<T>& gx,
                         LayerWork<T>& work) const = 0;
  virtual void vjp_params(const Tensor<T>& /*x*/, const Tensor<T>& /*gy*/, LayerWork<T>& /*work*/) {}
  // The VJP through `below` (the parameter-free layer under this one, whose
  // output is x) and this layer at once, into gu, the gradient at below's
  // input: the same values as the two vjp_input calls in turn, for a pair
  // this layer knows a shorter way through (max-pooling after ReLU). False,
  // and nothing written: not such a pair.
  virtual bool vjp_input_through(const Layer<T>& /*below*/, const Tensor<T>& /*x*/, const Tensor<T>& /*y*/,
                                 const Tensor<T>& /*gy*/, Tensor<T>& /*gu*/, LayerWork<T>& /*work*/) const {
    return false;
  }
  // One sample at a time, for the layer under `below` (vjp_input_from):
  // sample b's share of what vjp_input_through writes to gu, plane r's row h
  // at gu_b + r·stride + h·pitch (below's input planes, [C, H, W] per
  // sample); all else, the values between a plane's rows (pitch > W)
  // included, is left. The layer under takes it straight into its own
  // scratch (a copy padded with zeros), and the whole gu, four times the
  // pooled size under 2×2 max-pooling, is never made. Only where
  // gives_samples_through(below).
  virtual bool gives_samples_through(const Layer<T>& /*below*/) const { return false; }
  virtual void sample_vjp_input_through(const Layer<T>& /*below*/, const Tensor<T>& /*y*/, const Tensor<T>& /*gy*/,
                                        Index /*b*/, T* /*gu_b*/, Index /*stride*/, Index /*pitch*/,
                                        const LayerWork<T>& /*work*/) const {}
  // vjp_input with gy given a sample at a time by the layers above
  // (SampleGradients): the same values. False, nothing written: this layer
  // takes gy only whole.
  virtual bool vjp_input_from(const SampleGradients<T>& /*gy*/, const Tensor<T>& /*x*/, Tensor<T>& /*gx*/,
                              LayerWork<T>& /*work*/) const {
    return false;
  }
  // y is x's values in another shape (Identity, Flatten), and gx gy's: a
  // block views them rather than calling forward and vjp_input, which copy.
  virtual bool only_reshapes() const { return false; }
  // PyTorch's default initialisation, drawn from rng in parameter order.
  virtual void init(Rng& /*rng*/) {}
  // Multiply-adds of the layer's product for one sample (0 for the layers
  // without one); each of the two VJPs costs as many.
  virtual double product_macs() const { return 0; }

  std::vector<Param<T>> params;
  Shape in_shape, out_shape;  // per sample, without the batch dimension
  ThreadPool* pool = nullptr;  // splits the batch (or the outputs) across threads; none: all on the caller's
};

// Limits a model is held to when it is built: parameters in all (512 MiB of
// float weights, as much again for their gradients: 30 times paper-cifar's,
// 4 times μPC's widest sweep, mupc:512,128) and the values one layer outputs
// per sample. Reading a model file builds the model, so this also keeps the
// reader under its fuzzer's 2.5 GB.
constexpr Index kMaxParameters = Index(1) << 27;
constexpr Index kMaxSampleElements = Index(1) << 28;

// Builds the layer `spec` for per-sample input shape `in_shape`; throws Error
// when the shapes do not fit.
template <typename T>
std::unique_ptr<Layer<T>> make_layer(const LayerSpec& spec, const Shape& in_shape);

// Names of the layer types make_layer knows, for messages and the model file.
const std::vector<std::string>& layer_types();

}  // namespace pcplay
