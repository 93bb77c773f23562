// Tensor: a shape (batch first; NCHW for images) on contiguous Eigen storage.
// Layers view it as a [batch, features] row-major matrix or as a flat array.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace pcplay {

using Index = Eigen::Index;
using Shape = std::vector<Index>;

// The most elements a tensor may hold (16 GiB of floats; 4 GiB, all there is,
// where Index has 32 bits, as in wasm32); shape_numel throws Error beyond it,
// so that no size computation can overflow.
constexpr Index kMaxElements =
    static_cast<Index>(std::min<int64_t>(int64_t(1) << 32, std::numeric_limits<Index>::max() / 2 + 1));

Index shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[300, 1, 28, 28]"
Shape batch_shape(Index batch, const Shape& sample_shape);  // [batch, sample_shape...]

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

template <typename T>
class Tensor {
 public:
  using MatrixMap = Eigen::Map<RowMatrix<T>, Eigen::Aligned16>;
  using ConstMatrixMap = Eigen::Map<const RowMatrix<T>, Eigen::Aligned16>;
  using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned16>;
  using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned16>;

  Tensor() = default;
  explicit Tensor(Shape shape) {  // zero-filled
    resize(std::move(shape));
    set_zero();
  }

  // Sets the shape; keeps the storage when the size is unchanged, else
  // reallocates (contents then unspecified). Neither allocates once a tensor
  // has had its shape: the inner loops call them on every pass.
  void resize(const Shape& shape) {
    shape_ = shape;  // a vector's copy reuses its storage when it fits
    resize_values();
    defined_ = true;
  }
  // [rows, sample_shape...]
  void resize_batch(Index rows, const Shape& sample_shape) {
    shape_.resize(sample_shape.size() + 1);
    shape_[0] = rows;
    std::copy(sample_shape.begin(), sample_shape.end(), shape_.begin() + 1);
    resize_values();
    defined_ = true;
  }
  void set_zero() { values_.setZero(); }

  // Makes the tensor undefined (see defined()) but keeps its storage for
  // the next resize to the same size.
  void forget() {
    shape_.clear();
    defined_ = false;
  }

  const Shape& shape() const { return shape_; }
  Index rank() const { return static_cast<Index>(shape_.size()); }
  Index size() const { return defined_ ? values_.size() : 0; }
  // A default-constructed tensor is "none": the lists v and eps hold one
  // wherever an error type leaves a layer undefined (Torch2PC's None).
  bool defined() const { return defined_; }
  // Leading dimension (the batch for activations, `out` for a weight).
  Index rows() const { return shape_.empty() ? 0 : shape_[0]; }
  // Elements per row: the per-sample size of an activation.
  Index cols() const { return rows() == 0 ? 0 : size() / rows(); }

  T* data() { return values_.data(); }
  const T* data() const { return values_.data(); }
  T& operator[](Index i) { return values_[i]; }
  T operator[](Index i) const { return values_[i]; }

  MatrixMap matrix() { return MatrixMap(data(), rows(), cols()); }
  ConstMatrixMap matrix() const { return ConstMatrixMap(data(), rows(), cols()); }
  ArrayMap array() { return ArrayMap(data(), size()); }
  ConstArrayMap array() const { return ConstArrayMap(data(), size()); }

  bool all_finite() const { return array().isFinite().all(); }

 private:
  void resize_values() {
    const Index n = shape_numel(shape_);
    if (values_.size() != n) values_.resize(n);
  }

  Shape shape_;
  Vector<T> values_;
  bool defined_ = false;
};

}  // namespace pcplay
