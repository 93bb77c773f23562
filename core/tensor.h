// Tensor: a shape (batch first; NCHW for images) on contiguous Eigen storage.
// Layers view it as a [batch, features] row-major matrix or as a flat array.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
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
  // A copy owns its values, whether the original is a view or not; copying
  // into a tensor of the same size reuses its storage.
  Tensor(const Tensor& other) { *this = other; }
  Tensor& operator=(const Tensor& other) {
    if (this == &other) return *this;
    shape_ = other.shape_;
    view_ = nullptr;
    view_size_ = 0;
    if (values_.size() != other.size()) values_.resize(other.size());
    if (other.size() > 0) std::copy(other.data(), other.data() + other.size(), values_.data());
    defined_ = other.defined_;
    return *this;
  }
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  // Makes this tensor a view of `count` rows of `whole` from row `first`:
  // it reads and writes whole's values there (which must outlive it, at
  // their size) and owns none. A share of a batch relaxing on its own thread
  // works on its rows of the batch's tensors through views. Allocates
  // nothing once the view has had its rank. `whole` is taken by const
  // reference so that inputs can be viewed; writing through a view of a
  // tensor its owner holds as const is the caller's error.
  void view_rows(const Tensor& whole, Index first, Index count) {
    shape_ = whole.shape_;
    shape_[0] = count;
    const Index row_size = whole.cols();
    set_view(whole.data() + first * row_size, count * row_size);
  }
  // Makes this tensor a view of all of `whole`'s rows, each in
  // `sample_shape` (as many values): a reshape that copies nothing.
  void view_batch(const Tensor& whole, const Shape& sample_shape) {
    shape_.resize(sample_shape.size() + 1);
    shape_[0] = whole.rows();
    std::copy(sample_shape.begin(), sample_shape.end(), shape_.begin() + 1);
    if (shape_numel(shape_) != whole.size())
      throw std::logic_error("Tensor: a view of " + shape_str(whole.shape_) + " as " + shape_str(shape_));
    set_view(whole.data(), whole.size());
  }
  bool is_view() const { return view_ != nullptr; }

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
  void set_zero() { array().setZero(); }

  // Makes the tensor undefined (see defined()) but keeps its storage for
  // the next resize to the same size.
  void forget() {
    shape_.clear();
    defined_ = false;
    view_ = nullptr;
    view_size_ = 0;
  }

  const Shape& shape() const { return shape_; }
  Index rank() const { return static_cast<Index>(shape_.size()); }
  Index size() const { return defined_ ? (view_ ? view_size_ : values_.size()) : 0; }
  // A default-constructed tensor is "none": the lists v and eps hold one
  // wherever an error type leaves a layer undefined (Torch2PC's None).
  bool defined() const { return defined_; }
  // Leading dimension (the batch for activations, `out` for a weight).
  Index rows() const { return shape_.empty() ? 0 : shape_[0]; }
  // Elements per row: the per-sample size of an activation, from the shape
  // (a batch of no rows, a process's share of none, keeps its columns).
  Index cols() const {
    if (shape_.empty()) return 0;
    Index n = 1;
    for (size_t d = 1; d < shape_.size(); ++d) n *= shape_[d];
    return n;
  }

  T* data() { return view_ ? view_ : values_.data(); }
  const T* data() const { return view_ ? view_ : values_.data(); }
  T& operator[](Index i) { return data()[i]; }
  T operator[](Index i) const { return data()[i]; }

  MatrixMap matrix() { return MatrixMap(data(), rows(), cols()); }
  ConstMatrixMap matrix() const { return ConstMatrixMap(data(), rows(), cols()); }
  ArrayMap array() { return ArrayMap(data(), size()); }
  ConstArrayMap array() const { return ConstArrayMap(data(), size()); }

  bool all_finite() const { return array().isFinite().all(); }

 private:
  // A view of `count` values from `first`. It owns none: values the tensor
  // held before are let go (an empty tensor's data() may be null, and a view
  // of it would otherwise count them in size()).
  void set_view(const T* first, Index count) {
    values_.resize(0);
    view_ = const_cast<T*>(first);
    view_size_ = count;
    defined_ = true;
  }
  void resize_values() {
    const Index n = shape_numel(shape_);
    if (view_) {  // a view cannot grow or shrink the tensor it views
      if (n != view_size_) throw std::logic_error("Tensor: a view of " + std::to_string(view_size_) +
                                                  " values resized to " + shape_str(shape_));
      return;
    }
    if (values_.size() != n) values_.resize(n);
  }

  Shape shape_;
  Vector<T> values_;
  T* view_ = nullptr;  // a view's first value (see view_rows); its values_ stay empty
  Index view_size_ = 0;
  bool defined_ = false;
};

}  // namespace pcplay
