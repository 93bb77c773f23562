#include "model.h"

#include <algorithm>

#include "error.h"

namespace pcplay {

namespace {

// A trace's tensor that a layer is about to write: never a view that a
// reshape left there (one trace may serve several blocks in turn, as
// Model::predict's does, and the view's values are another layer's).
template <typename T>
Tensor<T>& written(Tensor<T>& t) {
  if (t.is_view()) t.forget();
  return t;
}

}  // namespace

template <typename T>
const Tensor<T>& Block<T>::forward(const Tensor<T>& x, BlockTrace<T>& trace) const {
  const size_t n = layers.size();
  trace.out.resize(n + residual);
  trace.grad.resize(n);
  trace.work.resize(n);
  for (size_t i = 0; i < n; ++i) {
    // A reshape views the output below it, which the trace owns (x, the
    // caller's, may change while the trace is in use: the first layer copies).
    if (i > 0 && layers[i]->only_reshapes())
      trace.out[i].view_batch(trace.out[i - 1], layers[i]->out_shape);
    else
      layers[i]->forward(i == 0 ? x : trace.out[i - 1], written(trace.out[i]), trace.work[i]);
  }
  if (residual) {
    written(trace.out[n]).resize(x.shape());
    trace.out[n].array() = x.array() + trace.out[n - 1].array();
  }
  return trace.output();
}

template <typename T>
void Block<T>::backward(const Tensor<T>& x, BlockTrace<T>& trace, const Tensor<T>& gy, Tensor<T>* gx,
                        bool param_grads) {
  if (!gx && !param_grads) return;
  // Below the lowest layer that has parameters, the chain is needed only for gx.
  size_t lowest_needed = layers.size();
  for (size_t i = 0; i < layers.size(); ++i)
    if (!layers[i]->params.empty()) {
      lowest_needed = i;
      break;
    }
  if (gx) lowest_needed = 0;

  const Tensor<T>* g = &gy;  // gradient with respect to the output of layer i
  for (size_t i = layers.size(); i-- > lowest_needed;) {
    const Tensor<T>& xi = i == 0 ? x : trace.out[i - 1];
    if (param_grads) layers[i]->vjp_params(xi, *g, trace.work[i]);
    if (i > lowest_needed) {
      const size_t below = i - 1;
      if (layers[i]->only_reshapes()) {  // gy itself, in the input's shape (read below, during this call)
        trace.grad[below].view_batch(*g, layers[i]->in_shape);
        g = &trace.grad[below];
        continue;
      }
      // Through layers i, i − 1 and i − 2 at once where only gradients at
      // inputs are wanted, layer i gives its gradient through i − 1 a sample
      // at a time and i − 2 takes it so (a convolution under ReLU and
      // max-pooling): the gradient between them is never made whole.
      if (!param_grads && below > lowest_needed && layers[below]->params.empty() &&
          layers[i]->gives_samples_through(*layers[below])) {
        const size_t bottom = below - 1;
        Tensor<T>* gb = bottom > 0 ? &written(trace.grad[bottom - 1]) : gx;
        const SampleGradients<T> from{*layers[i], *layers[below], trace.out[i], *g, trace.work[i]};
        if (layers[bottom]->vjp_input_from(from, bottom == 0 ? x : trace.out[bottom - 1], *gb, trace.work[bottom])) {
          g = gb;
          i = bottom;  // (the loop steps past it)
          continue;
        }
      }
      // Through layers i and i − 1 at once where layer i knows how (layer
      // i − 1 has no parameters, so only its input gradient is wanted).
      Tensor<T>* gu = below > lowest_needed ? &written(trace.grad[below - 1]) : below == 0 ? gx : nullptr;
      if (gu && layers[below]->params.empty() &&
          layers[i]->vjp_input_through(*layers[below], xi, trace.out[i], *g, *gu, trace.work[i])) {
        g = gu;
        i = below;  // (the loop steps past it)
        continue;
      }
      layers[i]->vjp_input(xi, trace.out[i], *g, written(trace.grad[i - 1]), trace.work[i]);
      g = &trace.grad[i - 1];
    } else if (i == 0 && gx) {
      layers[0]->vjp_input(x, trace.out[0], *g, *gx, trace.work[0]);
    }
  }
  // The skip: d(x + g(x))/dx = I + J_g(x), and layer i's output gradient is gy either way.
  if (residual && gx) gx->array() += gy.array();
}

template <typename T>
Model<T>::Model(ModelSpec spec) : spec_(std::move(spec)) {
  if (spec_.input_shape.empty() || spec_.input_shape.size() > 3)
    throw Error("input_shape must have 1 to 3 dimensions, got " + shape_str(spec_.input_shape));
  for (Index d : spec_.input_shape)
    if (d < 1 || d > (Index(1) << 24)) throw Error("input_shape " + shape_str(spec_.input_shape) + " is out of range");
  if (spec_.blocks.empty()) throw Error("a model needs at least one block");
  Shape shape = spec_.input_shape;
  Index total = 0;
  for (size_t b = 0; b < spec_.blocks.size(); ++b) {
    if (spec_.blocks[b].empty()) throw Error("block " + std::to_string(b) + " is empty");
    Block<T> block;
    block.in_shape = shape;
    for (size_t i = 0; i < spec_.blocks[b].size(); ++i) {
      const LayerSpec& ls = spec_.blocks[b][i];
      try {
        block.layers.push_back(make_layer<T>(ls, shape));
      } catch (const Error& e) {
        throw with_context("block " + std::to_string(b) + " layer " + std::to_string(i) + " (" + ls.type + ")", e);
      }
      shape = block.layers.back()->out_shape;
      for (Index d : shape)
        if (d < 1) throw Error("block " + std::to_string(b) + " layer " + std::to_string(i) + " (" + ls.type + ") outputs an empty " + shape_str(shape));
      if (shape_numel(shape) > kMaxSampleElements)
        throw Error("block " + std::to_string(b) + " layer " + std::to_string(i) + " (" + ls.type + ") outputs " +
                    shape_str(shape) + " per sample, more than " + std::to_string(kMaxSampleElements) + " values");
      for (const Param<T>& p : block.layers.back()->params) total += p.value.size();
      if (total > kMaxParameters)
        throw Error("the model would hold more than " + std::to_string(kMaxParameters) + " parameters");
    }
    block.out_shape = shape;
    block.residual = spec_.blocks[b].residual;
    if (block.residual && block.out_shape != block.in_shape)
      throw Error("block " + std::to_string(b) + " is residual but maps " + shape_str(block.in_shape) + " to " +
                  shape_str(block.out_shape));
    blocks_.push_back(std::move(block));
  }
  if (output_shape().size() != 1)
    throw Error("the last block must output a flat vector per sample, got " + shape_str(output_shape()));
}

template <typename T>
Model<T>::Model(const Model& other) : Model(other.spec_) {
  copy_parameters_from(other);
}

template <typename T>
Model<T>& Model<T>::operator=(const Model& other) {
  if (this != &other) *this = Model(other);
  return *this;
}

template <typename T>
std::vector<NamedParam<T>> Model<T>::parameters() {
  std::vector<NamedParam<T>> out;
  for (size_t b = 0; b < blocks_.size(); ++b)
    for (size_t i = 0; i < blocks_[b].layers.size(); ++i)
      for (Param<T>& p : blocks_[b].layers[i]->params)
        out.push_back({std::to_string(b) + "." + std::to_string(i) + "." + p.name, &p, static_cast<Index>(b + 1)});
  return out;
}

template <typename T>
Index Model<T>::num_parameters() const {
  Index n = 0;
  for (const Block<T>& block : blocks_)
    for (const auto& layer : block.layers)
      for (const Param<T>& p : layer->params) n += p.value.size();
  return n;
}

template <typename T>
void Model<T>::init(uint64_t seed) {
  Rng rng(seed);
  for (Block<T>& block : blocks_)
    for (auto& layer : block.layers) layer->init(rng);
}

template <typename T>
void Model<T>::copy_parameters_from(const Model& other) {
  if (other.blocks_.size() != blocks_.size()) throw Error("the models differ in depth");
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const auto &mine = blocks_[b].layers, &theirs = other.blocks_[b].layers;
    if (mine.size() != theirs.size()) throw Error("the models differ in block " + std::to_string(b));
    for (size_t i = 0; i < mine.size(); ++i) {
      if (mine[i]->params.size() != theirs[i]->params.size())
        throw Error("the models differ in block " + std::to_string(b) + " layer " + std::to_string(i));
      for (size_t k = 0; k < mine[i]->params.size(); ++k) {
        Param<T>& p = mine[i]->params[k];
        const Param<T>& q = theirs[i]->params[k];
        if (p.value.shape() != q.value.shape())
          throw Error("parameter " + std::to_string(b) + "." + std::to_string(i) + "." + p.name + " differs in shape");
        p.value = q.value;
        p.grad = q.grad;
      }
    }
  }
}

template <typename T>
void Model<T>::set_thread_pool(ThreadPool* pool) {
  pool_ = pool;
  for (Block<T>& block : blocks_)
    for (auto& layer : block.layers) layer->pool = pool;
}

template <typename T>
void Model<T>::check_input(const Tensor<T>& X, bool may_be_empty) const {
  const Shape& in = input_shape();  // compared in place: called on every step
  if (X.rank() != static_cast<Index>(in.size()) + 1 || X.rows() < (may_be_empty ? 0 : 1) ||
      !std::equal(in.begin(), in.end(), X.shape().begin() + 1))
    throw Error("input has shape " + shape_str(X.shape()) + " but the model expects [B, " +
                shape_str(input_shape()).substr(1) + " with B >= 1");
}

template <typename T>
void Model<T>::forward(const Tensor<T>& X, std::vector<Tensor<T>>& vhat, std::vector<BlockTrace<T>>& traces) const {
  const Index L = depth();
  vhat.resize(L + 1);
  traces.resize(L + 1);
  vhat[0] = X;
  for (Index l = 1; l <= L; ++l) vhat[l] = f(l).forward(vhat[l - 1], traces[l]);
}

template <typename T>
Tensor<T> Model<T>::predict(const Tensor<T>& X) const {
  Tensor<T> h = X;
  BlockTrace<T> trace;
  for (Index l = 1; l <= depth(); ++l) h = f(l).forward(h, trace);
  return h;
}

template class Block<float>;
template class Block<double>;
template class Model<float>;
template class Model<double>;

}  // namespace pcplay
