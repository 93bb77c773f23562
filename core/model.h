// A model is a sequence of L blocks f_1..f_L (PC layers); each block is a
// sequence of ordinary layers. v̂_0 = X, v̂_l = f_l(v̂_{l-1}), ŷ = v̂_L.
// Parameters are named as PyTorch's state_dict names an nn.Sequential of
// nn.Sequential blocks: "<block>.<layer>.<weight|bias>", both 0-based.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers.h"
#include "loss.h"

namespace pcplay {

// A block as the model file states it: its layers g, and whether it is
// residual, f(z) = z + g(z) (g must keep the shape). A vector of layers with
// one flag beside it, so that presets and tests write blocks as lists.
struct BlockSpec : std::vector<LayerSpec> {
  using std::vector<LayerSpec>::vector;
  BlockSpec(std::vector<LayerSpec> layers, bool is_residual = false)
      : std::vector<LayerSpec>(std::move(layers)), residual(is_residual) {}
  bool residual = false;
};

struct ModelSpec {
  Shape input_shape;  // per sample, e.g. {784} or {1, 28, 28}
  LossKind loss = LossKind::CrossEntropy;
  std::vector<BlockSpec> blocks;
};

// What a block's forward pass leaves for its backward pass: out[i] is the
// output of layer i (a residual block has one more: z + g(z), its output);
// grad[i] is scratch for the gradient with respect to it;
// work[i] is what layer i keeps from its forward pass, and its scratch.
template <typename T>
struct BlockTrace {
  std::vector<Tensor<T>> out, grad;
  std::vector<LayerWork<T>> work;
  const Tensor<T>& output() const { return out.back(); }
};

template <typename T>
class Block {
 public:
  // y = f(x); the trace keeps what backward needs to differentiate at x.
  const Tensor<T>& forward(const Tensor<T>& x, BlockTrace<T>& trace) const;
  // At the point `trace` recorded for x: gx = J(x)^T gy when gx is given, and,
  // when param_grads, every parameter's grad = Jθ(x)^T gy (overwritten).
  void backward(const Tensor<T>& x, BlockTrace<T>& trace, const Tensor<T>& gy, Tensor<T>* gx,
                bool param_grads);

  std::vector<std::unique_ptr<Layer<T>>> layers;
  bool residual = false;      // f(x) = x + layers(x)
  Shape in_shape, out_shape;  // per sample
};

template <typename T>
struct NamedParam {
  std::string name;  // "0.0.weight"
  Param<T>* param;
  Index block;       // l of the block f_l that holds it, 1..L
};

template <typename T>
class Model {
 public:
  // Builds the blocks for spec; throws Error naming the block and layer whose
  // shapes do not fit. Parameters are zero until init() or a load.
  explicit Model(ModelSpec spec);
  Model(const Model& other);
  Model& operator=(const Model& other);
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  const ModelSpec& spec() const { return spec_; }
  LossKind loss() const { return spec_.loss; }
  Index depth() const { return static_cast<Index>(blocks_.size()); }  // L
  // f(l) is the paper's f_l, l = 1..L: it maps v_{l-1} to v_l.
  Block<T>& f(Index l) { return blocks_[l - 1]; }
  const Block<T>& f(Index l) const { return blocks_[l - 1]; }
  const Shape& input_shape() const { return spec_.input_shape; }
  const Shape& output_shape() const { return blocks_.back().out_shape; }
  // Per-sample shape of v_l, l = 0..L.
  const Shape& shape_at(Index l) const { return l == 0 ? spec_.input_shape : blocks_[l - 1].out_shape; }

  std::vector<NamedParam<T>> parameters();
  Index num_parameters() const;
  // PyTorch's default initialisation from a generator seeded with `seed`.
  void init(uint64_t seed);
  void copy_parameters_from(const Model& other);
  // Lends every layer a pool to split its work across (nullptr: none); a copy
  // of the model starts without one.
  void set_thread_pool(ThreadPool* pool);
  ThreadPool* thread_pool() const { return pool_; }

  // v̂_0..v̂_L with one trace per block (traces[l] for f_l; traces[0] unused).
  void forward(const Tensor<T>& X, std::vector<Tensor<T>>& vhat, std::vector<BlockTrace<T>>& traces) const;
  // ŷ only.
  Tensor<T> predict(const Tensor<T>& X) const;
  // Throws Error unless X is [B, input_shape...] with B >= 1 (B >= 0 when
  // `may_be_empty`: a process's share of a batch smaller than the processes).
  void check_input(const Tensor<T>& X, bool may_be_empty = false) const;

 private:
  ModelSpec spec_;
  std::vector<Block<T>> blocks_;
  ThreadPool* pool_ = nullptr;
};

}  // namespace pcplay
