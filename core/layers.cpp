#include "layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "error.h"
#include "memory.h"
#include "thread_pool.h"

namespace pcplay {
namespace {

// min_rows (thread_pool.h) for a product's rows of `macs` multiply-adds each:
// a multiply-add is worth about an eighth of an element-wise value's memory
// traffic.
inline Index min_product_rows(Index macs) { return min_rows(macs / 8); }

// Scratch slots for every part `pool` may run, made before the loop starts.
template <typename T>
void prepare_parts(LayerWork<T>& work, const ThreadPool* pool) {
  work.prepare_parts(pool ? pool->size() : 1);
}

template <typename T>
Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> as_row(const Tensor<T>& t) {
  return Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(t.data(), t.size());
}
template <typename T>
Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> as_row(Tensor<T>& t) {
  return Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(t.data(), t.size());
}

// The unsigned integer as wide as T, for selects made on a value's bits
// (scalar loops that must not branch on the values).
template <typename T>
using BitsOf = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

// value where keep, else +0: a mask on its bits, which compilers keep as a
// mask (a select on the values they may make a jump).
template <typename T>
T kept_if(bool keep, T value) {
  using Bits = BitsOf<T>;
  Bits bits;
  std::memcpy(&bits, &value, sizeof value);
  bits &= Bits(0) - static_cast<Bits>(keep);
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// Draws a layer's weight and bias: PyTorch's default U(−1/√fan_in, 1/√fan_in)
// for both, or with `normal` the weight from N(0, 1) and the bias zero.
template <typename T>
void init_weights(std::vector<Param<T>>& params, Rng& rng, Index fan_in, bool normal) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  for (size_t k = 0; k < params.size(); ++k) {
    Tensor<T>& value = params[k].value;
    for (Index i = 0; i < value.size(); ++i)
      value[i] = static_cast<T>(!normal ? rng.uniform(-bound, bound) : k == 0 ? rng.normal() : 0.0);
  }
}

// Row r of dst, [rows, n] at dst_stride: dst[r, 0:n) = Σ_t a[r, t] · src[offset[t] + (0, n)]
// (a [rows, terms] at a_stride), the terms added in order t = 0, 1, ... to
// every element: a product with few rows or a short inner dimension, without
// packing its operands. Spans of Width packets of Rows rows are summed in
// registers (Eigen's packet math: SSE2, AVX2 with FMA, ... as built): each
// load of src serves Rows rows, and eight accumulators keep two multiply-add
// units busy through their latency.
template <typename T, int Rows, int Width>
Index sum_of_runs_by(T* dst, Index dst_stride, Index l, Index n, const T* a, Index a_stride, const T* src,
                     const Index* offset, Index terms) {
  using namespace Eigen::internal;
  using Packet = typename packet_traits<T>::type;
  constexpr Index P = packet_traits<T>::size;
  for (; l + Width * P <= n; l += Width * P) {
    Packet acc[Rows][Width];
    for (int r = 0; r < Rows; ++r)
      for (int k = 0; k < Width; ++k) acc[r][k] = pset1<Packet>(T(0));
    for (Index t = 0; t < terms; ++t) {
      const T* s = src + offset[t] + l;
      Packet x[Width];
      for (int k = 0; k < Width; ++k) x[k] = ploadu<Packet>(s + k * P);
      for (int r = 0; r < Rows; ++r) {
        const Packet w = pset1<Packet>(a[r * a_stride + t]);
        for (int k = 0; k < Width; ++k) acc[r][k] = pmadd(w, x[k], acc[r][k]);
      }
    }
    for (int r = 0; r < Rows; ++r)
      for (int k = 0; k < Width; ++k) pstoreu(dst + r * dst_stride + l + k * P, acc[r][k]);
  }
  return l;
}

// The last `packets` packets of the runs, ending at n (packets ≤ Width):
// one span only as wide as they need. It overlaps the span before, whose
// values it computes again, the same. (On MNIST's 10 → 5 convolution the
// input VJP's runs are 193 values: with AVX-512's blocks of 5 × 3 packets of
// floats, four spans of 48 and one packet, not a fifth span.)
template <typename T, int Rows, int Width>
void sum_last_packets(T* dst, Index dst_stride, Index n, Index packets, const T* a, Index a_stride, const T* src,
                      const Index* offset, Index terms) {
  constexpr Index P = Eigen::internal::packet_traits<T>::size;
  if constexpr (Width > 1)
    if (packets < Width)
      return sum_last_packets<T, Rows, Width - 1>(dst, dst_stride, n, packets, a, a_stride, src, offset, terms);
  sum_of_runs_by<T, Rows, Width>(dst, dst_stride, n - Width * P, n, a, a_stride, src, offset, terms);
}

// Rows rows at once, in spans of Width packets, then the last values.
template <typename T, int Rows, int Width>
void sum_rows_of_runs(T* dst, Index dst_stride, Index n, const T* a, Index a_stride, const T* src,
                      const Index* offset, Index terms) {
  constexpr Index P = Eigen::internal::packet_traits<T>::size, kSpan = Width * P;
  Index l = sum_of_runs_by<T, Rows, Width>(dst, dst_stride, 0, n, a, a_stride, src, offset, terms);
  if (l == n) return;
  if (n >= kSpan) {
    sum_last_packets<T, Rows, Width>(dst, dst_stride, n, (n - l + P - 1) / P, a, a_stride, src, offset, terms);
    return;
  }
  for (int r = 0; r < Rows; ++r) {  // runs shorter than a span
    Index e = sum_of_runs_by<T, 1, 1>(dst + r * dst_stride, 0, l, n, a + r * a_stride, 0, src, offset, terms);
    for (; e < n; ++e) {
      T sum = 0;
      for (Index t = 0; t < terms; ++t) sum += a[r * a_stride + t] * src[offset[t] + e];
      dst[r * dst_stride + e] = sum;
    }
  }
}

// Rows in blocks as large as the registers hold: each load of src then
// serves more multiply-adds (a span of two rows is bound by its loads).
// Measured on paper-mnist's Strict step, one thread: AVX-512 (32 registers)
// with blocks of 5 × 3 packets 35.3 → 27.9 ms, AVX2 with FMA (16 registers)
// 5 × 2 packets 42.7 → 39.7 ms; SSE2 and wasm SIMD, which multiply and add
// in two instructions, are fastest in blocks of 2 × 4 (3 × 3 and 4 × 2 were
// slower). Each value's terms are added in the same order whatever the block.
template <typename T>
void sum_of_runs(T* dst, Index dst_stride, Index rows, Index n, const T* a, Index a_stride, const T* src,
                 const Index* offset, Index terms) {
  auto by = [&](auto rows_at_once, auto width, Index r) {
    sum_rows_of_runs<T, decltype(rows_at_once)::value, decltype(width)::value>(
        dst + r * dst_stride, dst_stride, n, a + r * a_stride, a_stride, src, offset, terms);
  };
  using std::integral_constant;
  Index r = 0;
#ifdef EIGEN_HAS_SINGLE_INSTRUCTION_MADD
  if constexpr (EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32) {
    for (; r + 5 <= rows; r += 5) by(integral_constant<int, 5>(), integral_constant<int, 3>(), r);
    if (rows - r == 4) return by(integral_constant<int, 4>(), integral_constant<int, 3>(), r);
    if (rows - r == 3) return by(integral_constant<int, 3>(), integral_constant<int, 4>(), r);
  } else {
    for (; r + 5 <= rows; r += 5) by(integral_constant<int, 5>(), integral_constant<int, 2>(), r);
  }
#endif
  for (; r + 2 <= rows; r += 2) by(integral_constant<int, 2>(), integral_constant<int, 4>(), r);
  if (r < rows) by(integral_constant<int, 1>(), integral_constant<int, 8>(), r);
}

// dst[0, n) = src[0, n) for the short rows of images (26, 13, 11 values on
// MNIST): whole packets, the last one ending at n and overlapping the one
// before (it writes the same values again), in the widest packet that fits;
// a generic copy would leave up to a packet's worth to a scalar loop. The
// overlap reads src again after dst was written: the two must not overlap.
template <typename T>
void copy_run(const T* src, T* dst, Index n) {
  using namespace Eigen::internal;
  using Packet = typename packet_traits<T>::type;
  using Half = typename packet_traits<T>::half;
  // (sizeof, not unpacket_traits<Half>: a vector type as a template
  // argument drops its attributes, and GCC warns.)
  constexpr Index P = packet_traits<T>::size, PH = sizeof(Half) / sizeof(T);
  if (n >= P) {
    for (Index i = 0; i + P < n; i += P) pstoreu(dst + i, ploadu<Packet>(src + i));
    pstoreu(dst + n - P, ploadu<Packet>(src + n - P));
  } else if (PH < P && n >= PH) {
    for (Index i = 0; i + PH < n; i += PH) pstoreu(dst + i, ploadu<Half>(src + i));
    pstoreu(dst + n - PH, ploadu<Half>(src + n - PH));
  } else {
    for (Index i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// acc[r·terms + t] += g[r, l] · src[offset[t] + l] over l in [0, n) (n a
// multiple of the packet size; g [rows, n] at g_stride), lane by lane: each
// accumulator is one packet (at acc + (r·terms + t)·P) whose lanes keep their
// sums across calls, to be added up once at the end. The transpose of
// sum_of_runs, for a product whose result is small (a convolution's weight
// gradient, O × C·k·k) and whose inner dimension is long. Rows × Taps
// accumulators live in registers through a call; every accumulator's
// arithmetic is the same however the rows and taps are blocked.
template <typename T, int Rows, int Taps>
void accumulate_runs_by(T* acc, Index terms, const T* g, Index g_stride, Index n, const T* src, const Index* offset) {
  using namespace Eigen::internal;
  using Packet = typename packet_traits<T>::type;
  constexpr Index P = packet_traits<T>::size;
  eigen_assert(n % P == 0);
  Packet sum[Rows][Taps];
  for (int r = 0; r < Rows; ++r)
    for (int t = 0; t < Taps; ++t) sum[r][t] = ploadu<Packet>(acc + (r * terms + t) * P);
  for (Index l = 0; l < n; l += P) {
    Packet gr[Rows];
    for (int r = 0; r < Rows; ++r) gr[r] = ploadu<Packet>(g + r * g_stride + l);
    for (int t = 0; t < Taps; ++t) {
      const Packet x = ploadu<Packet>(src + offset[t] + l);
      for (int r = 0; r < Rows; ++r) sum[r][t] = pmadd(gr[r], x, sum[r][t]);
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int t = 0; t < Taps; ++t) pstoreu(acc + (r * terms + t) * P, sum[r][t]);
}

template <typename T>
void accumulate_runs(T* acc, Index rows, Index terms, const T* g, Index g_stride, Index n, const T* src,
                     const Index* offset) {
  constexpr Index P = Eigen::internal::packet_traits<T>::size;
  auto block_of_rows = [&](auto rows_at_once, Index r) {
    constexpr int R = decltype(rows_at_once)::value;
    Index t = 0;
    for (; t + 4 <= terms; t += 4)
      accumulate_runs_by<T, R, 4>(acc + (r * terms + t) * P, terms, g + r * g_stride, g_stride, n, src, offset + t);
    for (; t < terms; ++t)
      accumulate_runs_by<T, R, 1>(acc + (r * terms + t) * P, terms, g + r * g_stride, g_stride, n, src, offset + t);
  };
  Index r = 0;
  for (; r + 2 <= rows; r += 2) block_of_rows(std::integral_constant<int, 2>(), r);
  if (r < rows) block_of_rows(std::integral_constant<int, 1>(), r);
}

// ---------------------------------------------------------------------------
// Linear: y = x W^T + b.   x [B, in], W [out, in], b [out], y [B, out]
template <typename T>
class Linear final : public Layer<T> {
 public:
  Linear(Index in, Index out, bool bias, bool normal_init) : normal_init_(normal_init) {
    this->in_shape = {in};
    this->out_shape = {out};
    this->params.push_back({"weight", Tensor<T>({out, in}), Tensor<T>({out, in})});
    if (bias) this->params.push_back({"bias", Tensor<T>({out}), Tensor<T>({out})});
  }

  // Rows of the batch in parallel (parts cut at panel boundaries).
  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>&) const override {
    const Tensor<T>& W = this->params[0].value;
    y.resize_batch(x.rows(), this->out_shape);
    parallel_for(this->pool, x.rows(), min_product_rows(x.cols() * W.rows()), [&](Index r0, Index r1) {
      auto ym = y.matrix();
      auto rows = ym.middleRows(r0, r1 - r0);
      rows.noalias() = x.matrix().middleRows(r0, r1 - r0) * W.matrix().transpose();
      if (this->params.size() > 1) rows.rowwise() += as_row(this->params[1].value);
    }, kPanelRows<T>);
  }

  // gx [B, in] = gy [B, out] W [out, in]
  void vjp_input(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>&) const override {
    gx.resize(x.shape());
    parallel_for(this->pool, x.rows(), min_product_rows(x.cols() * gy.cols()), [&](Index r0, Index r1) {
      gx.matrix().middleRows(r0, r1 - r0).noalias() = gy.matrix().middleRows(r0, r1 - r0) * this->params[0].value.matrix();
    }, kPanelRows<T>);
  }

  // gW [out, in] = gy^T x;  gb [out] = sum over the batch of gy. Split by
  // output feature: each keeps its sum over the batch in one order.
  void vjp_params(const Tensor<T>& x, const Tensor<T>& gy, LayerWork<T>&) override {
    parallel_for(this->pool, gy.cols(), min_product_rows(x.rows() * x.cols()), [&](Index o0, Index o1) {
      this->params[0].grad.matrix().middleRows(o0, o1 - o0).noalias() =
          gy.matrix().middleCols(o0, o1 - o0).transpose() * x.matrix();
      if (this->params.size() > 1)
        as_row(this->params[1].grad).segment(o0, o1 - o0) = gy.matrix().middleCols(o0, o1 - o0).colwise().sum();
    }, kPanelRows<T>);
  }

  double product_macs() const override { return static_cast<double>(this->params[0].value.size()); }

  // PyTorch's kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(in), 1/sqrt(in)).
  void init(Rng& rng) override { init_weights(this->params, rng, this->in_shape[0], normal_init_); }

 private:
  bool normal_init_;
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

 protected:
  // Calls fn(first value, count) over parts of the batch, in parallel.
  template <typename Fn>
  void by_rows(const Tensor<T>& x, Fn fn) const {
    const Index n = x.cols();
    parallel_for(this->pool, x.rows(), min_rows(n), [&](Index r0, Index r1) { fn(r0 * n, (r1 - r0) * n); });
  }
};

template <typename T>
class ReLU final : public Elementwise<T> {
 public:
  using Elementwise<T>::Elementwise;
  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>&) const override {
    y.resize(x.shape());
    this->by_rows(x, [&](Index at, Index n) { y.array().segment(at, n) = x.array().segment(at, n).max(T(0)); });
  }
  // ReLU's VJP at one value, from its output y: PyTorch's threshold_backward,
  // zero where y ≤ 0, so that the gradient passes where y is NaN.
  static T masked(T y, T g) { return y <= T(0) ? T(0) : g; }
  // The same as a mask on g's bits: in a scalar loop the compiler makes the
  // select a jump, which the random signs of a layer's inputs mispredict.
  static T masked_bits(T y, T g) { return kept_if(!(y <= T(0)), g); }
  // A plain loop: compilers vectorise it as a compare and a mask.
  void vjp_input(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>&) const override {
    gx.resize(x.shape());
    this->by_rows(x, [&](Index at, Index n) {
      const T *yv = y.data() + at, *gyv = gy.data() + at;
      T* gxv = gx.data() + at;
      for (Index i = 0; i < n; ++i) {
        const T g = gyv[i];  // read unconditionally, so that the select vectorises
        gxv[i] = masked(yv[i], g);
      }
    });
  }
};

template <typename T>
class Tanh final : public Elementwise<T> {
 public:
  using Elementwise<T>::Elementwise;
  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>&) const override {
    y.resize(x.shape());
    this->by_rows(x, [&](Index at, Index n) { y.array().segment(at, n) = x.array().segment(at, n).tanh(); });
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>&) const override {
    gx.resize(x.shape());
    this->by_rows(x, [&](Index at, Index n) {
      gx.array().segment(at, n) = gy.array().segment(at, n) * (T(1) - y.array().segment(at, n).square());
    });
  }
};

template <typename T>
class Sigmoid final : public Elementwise<T> {
 public:
  using Elementwise<T>::Elementwise;
  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>&) const override {
    y.resize(x.shape());
    this->by_rows(x, [&](Index at, Index n) { y.array().segment(at, n) = T(1) / (T(1) + (-x.array().segment(at, n)).exp()); });
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>&) const override {
    gx.resize(x.shape());
    this->by_rows(x, [&](Index at, Index n) {  // PyTorch's order
      gx.array().segment(at, n) = gy.array().segment(at, n) * (T(1) - y.array().segment(at, n)) * y.array().segment(at, n);
    });
  }
};

// ---------------------------------------------------------------------------
// Identity and Flatten: a copy. Identity keeps the shape; Flatten merges the
// per-sample dimensions, [B, d1, d2, ...] -> [B, d1*d2*...] (the data is
// already contiguous). Their Jacobian is the identity. Inside a block,
// above its first layer, they copy nothing (Block, only_reshapes).
template <typename T>
class Copy final : public Layer<T> {
 public:
  Copy(const Shape& in, const Shape& out) {
    this->in_shape = in;
    this->out_shape = out;
  }
  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>&) const override {
    y.resize_batch(x.rows(), this->out_shape);
    copy_rows(x, y);
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>&) const override {
    gx.resize(x.shape());
    copy_rows(gy, gx);
  }
  bool only_reshapes() const override { return true; }

 private:
  // Rows in parallel: a copy of a batch's images (1.7 MB of MNIST's) on one
  // thread leaves the other waiting.
  void copy_rows(const Tensor<T>& from, Tensor<T>& to) const {
    const Index n = from.cols();
    parallel_for(this->pool, from.rows(), min_rows(n), [&](Index r0, Index r1) {
      std::copy(from.data() + r0 * n, from.data() + r1 * n, to.data() + r0 * n);
    });
  }
};

// ---------------------------------------------------------------------------
// Scale: y = a x, gx = a gy. μPC's constant a_l on a block's output.
template <typename T>
class Scale final : public Layer<T> {
 public:
  Scale(const Shape& shape, double factor) : a_(static_cast<T>(factor)) {
    this->in_shape = shape;
    this->out_shape = shape;
  }
  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>&) const override {
    y.resize(x.shape());
    y.array() = a_ * x.array();
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>&) const override {
    gx.resize(x.shape());
    gx.array() = a_ * gy.array();
  }

 private:
  T a_;
};

// ---------------------------------------------------------------------------
// Conv2d by im2col + GEMM, one sample at a time (PyTorch's layout):
//   x [B, C, H, W], W [O, C, k, k], b [O], y [B, O, Ho, Wo]
//   Ho = (H + 2p − k)/s + 1;  cols_b [C·k·k, L] holds x_b's patches
//   y_b [O, Ho·Wo] ← W [O, C·k·k] · cols_b + b
// Column l = oh·pitch + ow of cols_b is output (oh, ow). At stride 1 the
// pitch is the padded input's width Wp = W + 2p, so that row (c, i, j) of
// cols_b is one contiguous run of the (padded) input plane c, from i·Wp + j,
// L = (Ho − 1)·Wp + Wo long: im2col and its adjoint are C·k·k copies per
// sample instead of C·k·k·Ho short ones. The k − 1 columns between output
// rows (ow ≥ Wo) are computed and dropped, their gradients held at zero:
// Wp/Wo − 1 more multiply-adds (18 % on MNIST's 10 → 5 convolution, 6 % on
// CIFAR's). Other strides copy row by row, at pitch Wo (L = Ho·Wo).
// At stride 1 with few output channels (MNIST's 10 and 5), the forward pass
// and both VJPs skip the patches: a product with 5 rows, or an inner
// dimension of 5, runs at a third of the speed of large ones in a GEMM
// kernel, so each output plane sums its taps directly (sum_of_runs), and
// the weight gradient sums from the same runs (vjp_params_direct). The
// input VJP is the same kind of sum, a correlation of gy padded by
// q = k − 1 − p with the kernel flipped and transposed:
//   gx[c, h, w] = Σ_{o,i,j} W[o, c, k−1−i, k−1−j] · gyq[o, h + i, w + j]
// so that each input plane is written once rather than added to k·k times.
// Otherwise the forward pass keeps every sample's patches (when they fit
// kKeptPatchValues) for the parameter VJP at the same x.
// Convolutions with at most this many output channels take sum_of_runs.
constexpr Index kDirectChannels = 16;

template <typename T>
class Conv2d final : public Layer<T> {
 public:
  Conv2d(const Shape& in, Index out, Index kernel, Index stride, Index padding, bool bias, bool normal_init)
      : C_(in[0]), H_(in[1]), W_(in[2]), k_(kernel), s_(stride), p_(padding), normal_init_(normal_init) {
    Ho_ = (H_ + 2 * p_ - k_) / s_ + 1;
    Wo_ = (W_ + 2 * p_ - k_) / s_ + 1;
    pitch_ = s_ == 1 ? W_ + 2 * p_ : Wo_;
    L_ = (Ho_ - 1) * pitch_ + Wo_;
    direct_ = s_ == 1 && out <= kDirectChannels && p_ < k_;
    if (s_ == 1)
      for (Index c = 0; c < C_; ++c)
        for (Index i = 0; i < k_; ++i)
          for (Index j = 0; j < k_; ++j) tap_offset_.push_back((c * (H_ + 2 * p_) + i) * pitch_ + j);
    if (direct_) {
      back_pitch_ = W_ + k_ - 1;
      back_L_ = (H_ - 1) * back_pitch_ + W_;
      for (Index o = 0; o < out; ++o)
        for (Index i = 0; i < k_; ++i)
          for (Index j = 0; j < k_; ++j) back_tap_offset_.push_back((o * (H_ + k_ - 1) + i) * back_pitch_ + j);
    }
    this->in_shape = in;
    this->out_shape = {out, Ho_, Wo_};
    this->params.push_back({"weight", Tensor<T>({out, C_, k_, k_}), Tensor<T>({out, C_, k_, k_})});
    if (bias) this->params.push_back({"bias", Tensor<T>({out}), Tensor<T>({out})});
  }

  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>& work) const override {
    const Index B = x.rows(), O = this->out_shape[0];
    y.resize_batch(B, this->out_shape);
    const bool keep = !direct_ && B * patch_values() <= kKeptPatchValues;
    work.cols.resize(keep ? static_cast<size_t>(B * patch_values()) : 0);
    prepare_parts(work, this->pool);
    const Index own_cols = keep || direct_ ? 0 : patch_values();  // a part's own patches, one sample's
    parallel_parts(this->pool, B, 1, [&](int part, Index b0, Index b1) {  // samples in parallel
      Scratch scratch(work.part_buffer(part, static_cast<size_t>(O * L_ + padded_values() + own_cols)));
      auto yw = scratch.matrix(O, L_);
      T* padded = scratch.take(padded_values());
      T* own = scratch.take(own_cols);
      clear_padded_input(padded);
      for (Index b = b0; b < b1; ++b) {
        T* cols = keep ? work.cols.data() + b * patch_values() : own;
        if (direct_) {
          const T* xp = padded_input(x.data() + b * C_ * H_ * W_, padded);
          sum_of_runs(yw.data(), L_, O, L_, weight_matrix().data(), C_ * k_ * k_, xp, tap_offset_.data(), C_ * k_ * k_);
        } else {
          im2col(x.data() + b * C_ * H_ * W_, cols, padded);
          yw.noalias() = weight_matrix() * patches(cols);
        }
        auto yb = sample(y, b, O);
        gather_planes(yw.data(), L_, pitch_, O, Ho_, Wo_, yb.data());
        if (this->params.size() > 1) yb.colwise() += as_row(this->params[1].value).transpose();
      }
    });
  }

  // gx_b = col2im(W^T [C·k·k, O] · gy_b [O, L])
  void vjp_input(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>& work) const override {
    const Index B = x.rows(), O = this->out_shape[0];
    if (direct_) {
      vjp_input_direct(x, gx, work, [&](Index b, T* at, Index stride, Index pitch) {
        scatter_planes(gy.data() + b * O * Ho_ * Wo_, O, Ho_, Wo_, at, stride, pitch);
      });
      return;
    }
    gx.resize(x.shape());
    prepare_parts(work, this->pool);
    parallel_parts(this->pool, B, 1, [&](int part, Index b0, Index b1) {
      Scratch scratch(work.part_buffer(part, static_cast<size_t>(patch_values() + O * L_ + padded_values())));
      auto gcols = scratch.matrix(C_ * k_ * k_, L_);
      auto gyw = scratch.matrix(O, L_);
      T* padded = scratch.take(padded_values());
      gyw.setZero();  // between output rows it stays zero
      for (Index b = b0; b < b1; ++b) {
        scatter_planes(gy.data() + b * O * Ho_ * Wo_, O, Ho_, Wo_, gyw.data(), L_, pitch_);
        gcols.noalias() = weight_matrix().transpose() * gyw;
        col2im(gcols.data(), gx.data() + b * C_ * H_ * W_, padded);
      }
    });
  }

  // The direct input VJP takes gy a sample at a time, into its padded copy.
  bool vjp_input_from(const SampleGradients<T>& gy, const Tensor<T>& x, Tensor<T>& gx,
                      LayerWork<T>& work) const override {
    if (!direct_) return false;
    vjp_input_direct(x, gx, work, [&](Index b, T* at, Index stride, Index pitch) { gy.write(b, at, stride, pitch); });
    return true;
  }

  // gW [O, C·k·k] = Σ_b gy_b · cols_bᵀ;  gb = Σ_b row sums of gy_b. Split by
  // output channel (at panel boundaries), so that each sum over the batch
  // keeps one order; each part remakes the patches unless forward kept them.
  void vjp_params(const Tensor<T>& x, const Tensor<T>& gy, LayerWork<T>& work) override {
    if (direct_) return vjp_params_direct(x, gy, work);
    const Index B = x.rows(), O = this->out_shape[0];
    const bool kept = static_cast<Index>(work.cols.size()) == B * patch_values();
    auto gW = Eigen::Map<RowMatrix<T>>(this->params[0].grad.data(), O, C_ * k_ * k_);
    const bool bias = this->params.size() > 1;
    prepare_parts(work, this->pool);
    parallel_parts(this->pool, O, 1, [&](int part, Index o0, Index o1) {
      auto gWo = gW.middleRows(o0, o1 - o0);
      auto gbo = as_row(this->params.back().grad).segment(o0, bias ? o1 - o0 : 0);
      gWo.setZero();
      gbo.setZero();
      Scratch scratch(work.part_buffer(part, static_cast<size_t>((o1 - o0) * L_ + padded_values() +
                                                                   (kept ? 0 : patch_values()))));
      auto gyw = scratch.matrix(o1 - o0, L_);
      T* padded = scratch.take(padded_values());
      T* remade = kept ? nullptr : scratch.take(patch_values());
      if (!kept) clear_padded_input(padded);
      gyw.setZero();
      for (Index b = 0; b < B; ++b) {
        const T* cols = kept ? work.cols.data() + b * patch_values() : remade;
        if (!kept) im2col(x.data() + b * C_ * H_ * W_, remade, padded);
        const auto gyo = sample(gy, b, O).middleRows(o0, o1 - o0);
        scatter_planes(gyo.data(), o1 - o0, Ho_, Wo_, gyw.data(), L_, pitch_);
        gWo.noalias() += gyw * patches(cols).transpose();
        if (bias) gbo += gyo.rowwise().sum().transpose();
      }
    }, kPanelRows<T>);
  }

  // Few output channels at stride 1: each input plane sums its taps from gy
  // padded by q = k − 1 − p (gyq), the kernel flipped and transposed (see
  // above). write_gy(b, at, stride, pitch) writes sample b's gy planes inside
  // gyq's border, plane o's row i at at + o·stride + i·pitch.
  template <typename WriteGy>
  void vjp_input_direct(const Tensor<T>& x, Tensor<T>& gx, LayerWork<T>& work, const WriteGy& write_gy) const {
    const Index B = x.rows(), O = this->out_shape[0];
    const Index taps = O * k_ * k_, Hq = H_ + k_ - 1, q = k_ - 1 - p_;
    gx.resize(x.shape());
    prepare_parts(work, this->pool);
    parallel_parts(this->pool, B, 1, [&](int part, Index b0, Index b1) {
      Scratch scratch(work.part_buffer(part, static_cast<size_t>(C_ * taps + O * Hq * back_pitch_ + C_ * back_L_)));
      T* flipped = scratch.take(C_ * taps);  // [C, O·k·k]: W[o, c, k−1−i, k−1−j] at (c, (o, i, j))
      T* gyq = scratch.take(O * Hq * back_pitch_);
      T* wide = scratch.take(C_ * back_L_);
      const T* w = this->params[0].value.data();
      for (Index c = 0; c < C_; ++c)
        for (Index o = 0; o < O; ++o)
          for (Index i = 0; i < k_; ++i)
            for (Index j = 0; j < k_; ++j)
              flipped[c * taps + (o * k_ + i) * k_ + j] = w[((o * C_ + c) * k_ + k_ - 1 - i) * k_ + k_ - 1 - j];
      clear_padded(gyq, O, Ho_, Wo_, q);
      for (Index b = b0; b < b1; ++b) {
        write_gy(b, gyq + q * back_pitch_ + q, Hq * back_pitch_, back_pitch_);
        sum_of_runs(wide, back_L_, C_, back_L_, flipped, taps, gyq, back_tap_offset_.data(), taps);
        gather_planes(wide, back_L_, back_pitch_, C_, H_, W_, gx.data() + b * C_ * H_ * W_);
      }
    });
  }

  // Few output channels at stride 1: the patches of a sample are runs of its
  // (padded) input, so
  //   gW[o, (c, i, j)] = Σ_b Σ_l gy_b[o, l] · xp_b[tap(c, i, j) + l]
  // is summed straight from the runs, lane by lane across the whole batch
  // (accumulate_runs), and each lane sum added up once at the end: no patches,
  // and no packing for a GEMM whose result is only O × C·k·k. The runs are
  // lengthened to whole packets: gy's columns past L are zero, and the
  // input's copy has a packet of zeros after it. Split by output channel:
  // each sum keeps one order on any number of threads (each part pads the
  // whole batch's input for itself: copies, against products O times their
  // size). The zeros of gy between output rows and past L meet real input
  // values: an Inf or NaN in x reaches more of gW than in PyTorch (0 · Inf),
  // which only a run that has already diverged shows, and flags.
  void vjp_params_direct(const Tensor<T>& x, const Tensor<T>& gy, LayerWork<T>& work) {
    constexpr Index P = Eigen::internal::packet_traits<T>::size;
    const Index B = x.rows(), O = this->out_shape[0], taps = C_ * k_ * k_;
    const Index n = (L_ + P - 1) / P * P;
    const Index input_values = C_ * (H_ + 2 * p_) * (W_ + 2 * p_);
    const bool bias = this->params.size() > 1;
    T* gW = this->params[0].grad.data();
    prepare_parts(work, this->pool);
    parallel_parts(this->pool, O, 1, [&](int part, Index o0, Index o1) {
      const Index rows = o1 - o0;
      Scratch scratch(work.part_buffer(part, static_cast<size_t>(rows * taps * P + rows * n + input_values + P)));
      T* acc = scratch.take(rows * taps * P);
      T* gyw = scratch.take(rows * n);
      T* input = scratch.take(input_values + P);
      std::fill(acc, acc + rows * taps * P, T(0));
      std::fill(gyw, gyw + rows * n, T(0));  // between output rows and past L it stays zero
      std::fill(input + input_values, input + input_values + P, T(0));
      clear_padded(input, C_, H_, W_, p_);
      auto gbo = as_row(this->params.back().grad).segment(o0, bias ? rows : 0);
      gbo.setZero();
      for (Index b = 0; b < B; ++b) {
        const T* xb = x.data() + b * C_ * H_ * W_;
        if (p_ > 0)
          copy_padded(xb, C_, H_, W_, p_, input);
        else
          std::copy(xb, xb + input_values, input);
        const auto gyo = sample(gy, b, O).middleRows(o0, rows);
        scatter_planes(gyo.data(), rows, Ho_, Wo_, gyw, n, pitch_);
        accumulate_runs(acc, rows, taps, gyw, n, n, input, tap_offset_.data());
        if (bias) gbo += gyo.rowwise().sum().transpose();
      }
      using Packet = typename Eigen::internal::packet_traits<T>::type;
      for (Index i = 0; i < rows * taps; ++i)
        gW[o0 * taps + i] = Eigen::internal::predux(Eigen::internal::ploadu<Packet>(acc + i * P));
    });
  }

  // [O, C·k·k] · [C·k·k, Ho·Wo]
  double product_macs() const override {
    return static_cast<double>(this->params[0].value.size()) * static_cast<double>(Ho_ * Wo_);
  }

  void init(Rng& rng) override { init_weights(this->params, rng, C_ * k_ * k_, normal_init_); }  // fan_in as PyTorch

 private:
  // Carves a part's scratch buffer into consecutive pieces.
  class Scratch {
   public:
    explicit Scratch(T* buffer) : next_(buffer) {}
    T* take(Index n) {
      T* p = next_;
      next_ += n;
      return p;
    }
    Eigen::Map<RowMatrix<T>> matrix(Index rows, Index cols) { return {take(rows * cols), rows, cols}; }

   private:
    T* next_;
  };

  Index patch_values() const { return C_ * k_ * k_ * L_; }
  // The padded input planes of one sample, stride 1 with padding only.
  Index padded_values() const { return s_ == 1 && p_ > 0 ? C_ * (H_ + 2 * p_) * (W_ + 2 * p_) : 0; }
  Eigen::Map<const RowMatrix<T>> patches(const T* data) const {
    return Eigen::Map<const RowMatrix<T>>(data, C_ * k_ * k_, L_);
  }
  Eigen::Map<const RowMatrix<T>> weight_matrix() const {
    return Eigen::Map<const RowMatrix<T>>(this->params[0].value.data(), this->out_shape[0], C_ * k_ * k_);
  }
  static Eigen::Map<const RowMatrix<T>> sample(const Tensor<T>& t, Index b, Index rows) {
    const Index n = t.size() / t.rows();
    return Eigen::Map<const RowMatrix<T>>(t.data() + b * n, rows, n / rows);
  }
  static Eigen::Map<RowMatrix<T>> sample(Tensor<T>& t, Index b, Index rows) {
    const Index n = t.size() / t.rows();
    return Eigen::Map<RowMatrix<T>>(t.data() + b * n, rows, n / rows);
  }
  // The outputs o (of `outputs`) whose input o·s − p + offset lies inside
  // [0, size): [lo, hi). Rows: (i, H, Ho); columns: (j, W, Wo).
  std::pair<Index, Index> inside(Index offset, Index size, Index outputs) const {
    const Index lo = p_ > offset ? (p_ - offset + s_ - 1) / s_ : 0;
    const Index last = size - 1 + p_ - offset;  // the largest o·s
    const Index hi = last < 0 ? 0 : std::min(outputs, last / s_ + 1);
    return {std::min(lo, hi), hi};
  }
  using Strided = Eigen::Map<const RowMatrix<T>, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  using StridedOut = Eigen::Map<RowMatrix<T>, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  using Rows = Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>;
  using RowsOut = Eigen::Map<RowMatrix<T>, 0, Eigen::OuterStride<>>;
  using Run = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>;
  using ConstRun = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>;

  // Stride 1: the input planes of one sample with their border of p zeros
  // (in `padded`, which clear_padded_input cleared before the loop over
  // samples), or x itself without padding.
  void clear_padded_input(T* padded) const {
    if (padded_values() > 0) clear_padded(padded, C_, H_, W_, p_);
  }
  const T* padded_input(const T* x, T* padded) const {
    if (p_ == 0) return x;
    copy_padded(x, C_, H_, W_, p_, padded);
    return padded;
  }
  // Planes [count, h, w] inside a border of m zeros, [count, h + 2m, w + 2m]:
  // clear_padded zeros the whole once, then copy_padded writes each
  // sample's planes inside the border, which stays zero from sample to
  // sample. (One fill of the whole: zeros written row by row, a few values
  // at a time, made the single-threaded wasm build's FixedPred step 40 %
  // longer.)
  static void clear_padded(T* out, Index count, Index h, Index w, Index m) {
    if (m > 0) std::fill(out, out + count * (h + 2 * m) * (w + 2 * m), T(0));
  }
  static void copy_padded(const T* planes, Index count, Index h, Index w, Index m, T* out) {
    const Index wm = w + 2 * m;
    scatter_planes(planes, count, h, w, out + m * wm + m, (h + 2 * m) * wm, wm);
  }
  // The copies between planes [count, h, w] and h×w blocks laid out wider:
  // block r at `at` + r·stride, its rows `pitch` apart (padded planes, the
  // patches' runs at their pitch).
  static void scatter_planes(const T* planes, Index count, Index h, Index w, T* at, Index stride, Index pitch) {
    for (Index r = 0; r < count; ++r)
      for (Index i = 0; i < h; ++i) copy_run(planes + (r * h + i) * w, at + r * stride + i * pitch, w);
  }
  static void gather_planes(const T* at, Index stride, Index pitch, Index count, Index h, Index w, T* planes) {
    for (Index r = 0; r < count; ++r)
      for (Index i = 0; i < h; ++i) copy_run(at + r * stride + i * pitch, planes + (r * h + i) * w, w);
  }
  // Row (c, i, j) of cols holds x[c, oh·s − p + i, ow·s − p + j] at column
  // oh·pitch + ow, zero outside. `padded`: padded_values() of scratch.
  void im2col(const T* x, T* cols, T* padded) const {
    if (s_ == 1) {
      const T* xp = padded_input(x, padded);
      for (size_t tap = 0; tap < tap_offset_.size(); ++tap) Run(cols + tap * L_, L_) = ConstRun(xp + tap_offset_[tap], L_);
      return;
    }
    for (Index c = 0; c < C_; ++c)
      for (Index i = 0; i < k_; ++i) {
        const auto [top, bottom] = inside(i, H_, Ho_);
        for (Index j = 0; j < k_; ++j) {
          Eigen::Map<RowMatrix<T>> patch(cols + ((c * k_ + i) * k_ + j) * L_, Ho_, Wo_);
          const auto [lo, hi] = inside(j, W_, Wo_);
          if (top > 0 || bottom < Ho_ || lo > 0 || hi < Wo_) patch.setZero();
          if (top == bottom || lo == hi) continue;
          const T* first = x + (c * H_ + top * s_ - p_ + i) * W_ + lo * s_ - p_ + j;
          patch.block(top, lo, bottom - top, hi - lo) =
              Strided(first, bottom - top, hi - lo, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(s_ * W_, s_));
        }
      }
  }
  // The adjoint of im2col: x = Σ of each patch entry where it came from, in
  // the order (c, i, j); within one (c, i, j) every entry has its own place.
  // At stride 1 the columns between output rows add their zeros too.
  void col2im(const T* cols, T* x, T* padded) const {
    if (s_ == 1) {  // add each row where it came from in the padded planes, then crop
      const Index Hp = H_ + 2 * p_, Wp = W_ + 2 * p_;
      T* xp = p_ > 0 ? padded : x;
      std::fill(xp, xp + C_ * Hp * Wp, T(0));
      for (size_t tap = 0; tap < tap_offset_.size(); ++tap) Run(xp + tap_offset_[tap], L_) += ConstRun(cols + tap * L_, L_);
      if (p_ > 0) gather_planes(padded + p_ * Wp + p_, Hp * Wp, Wp, C_, H_, W_, x);  // crop
      return;
    }
    std::fill(x, x + C_ * H_ * W_, T(0));
    for (Index c = 0; c < C_; ++c)
      for (Index i = 0; i < k_; ++i) {
        const auto [top, bottom] = inside(i, H_, Ho_);
        for (Index j = 0; j < k_; ++j) {
          const auto [lo, hi] = inside(j, W_, Wo_);
          if (top == bottom || lo == hi) continue;
          Eigen::Map<const RowMatrix<T>> patch(cols + ((c * k_ + i) * k_ + j) * L_, Ho_, Wo_);
          T* first = x + (c * H_ + top * s_ - p_ + i) * W_ + lo * s_ - p_ + j;
          StridedOut(first, bottom - top, hi - lo, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(s_ * W_, s_)) +=
              patch.block(top, lo, bottom - top, hi - lo);
        }
      }
  }

  Index C_, H_, W_, k_, s_, p_, Ho_, Wo_;
  Index pitch_, L_;  // the patches' columns: output (oh, ow) at oh·pitch_ + ow, L_ in all
  bool direct_;      // products by sum_of_runs instead of patches and GEMM
  std::vector<Index> tap_offset_;  // stride 1: where tap (c, i, j)'s run starts in the padded planes
  Index back_pitch_ = 0, back_L_ = 0;   // direct: the input VJP's runs, at pitch W + k − 1
  std::vector<Index> back_tap_offset_;  // direct: where tap (o, i, j)'s run starts in gy padded by k − 1 − p
  bool normal_init_;
};

// ---------------------------------------------------------------------------
// Pooling over k×k windows with stride s, per channel: x [B, C, H, W] ->
// y [B, C, Ho, Wo], Ho = (H − k)/s + 1 (no padding, floor as PyTorch).
template <typename T>
class Pool2d : public Layer<T> {
 public:
  Pool2d(const Shape& in, Index kernel, Index stride) : k_(kernel), s_(stride) {
    this->in_shape = in;
    this->out_shape = {in[0], (in[1] - k_) / s_ + 1, (in[2] - k_) / s_ + 1};
  }

 protected:
  // Calls fn(plane, window offset in the plane, output index) for every window;
  // planes are the B·C channels, each H×W, taken in parallel parts (windows
  // overlap only within a plane).
  template <typename Fn>
  void for_each_window(Index B, Fn fn) const {
    const Index C = this->in_shape[0], H = this->in_shape[1], W = this->in_shape[2];
    const Index Ho = this->out_shape[1], Wo = this->out_shape[2];
    parallel_for(this->pool, B * C, min_rows(H * W), [&](Index p0, Index p1) {
      for (Index plane = p0; plane < p1; ++plane)
        for (Index oh = 0; oh < Ho; ++oh)
          for (Index ow = 0; ow < Wo; ++ow) fn(plane * H * W, oh * s_ * W + ow * s_, (plane * Ho + oh) * Wo + ow);
    });
  }
  Index k_, s_;
};

// MaxPool2d: the first maximum of each window in row-major order gets the
// gradient (PyTorch's rule; MNIST's zero background makes ties common); a NaN
// is the maximum (the last NaN of the window, as PyTorch's scan leaves it).
template <typename T>
class MaxPool2d final : public Pool2d<T> {
 public:
  MaxPool2d(const Shape& in, Index kernel, Index stride) : Pool2d<T>(in, kernel, stride) {
    if (kernel == 2 && stride == 2)
      for (Index oh = 0; oh < this->out_shape[1]; ++oh)
        for (Index ow = 0; ow < this->out_shape[2]; ++ow)
          window_start_.push_back(static_cast<int32_t>(2 * (oh * in[2] + ow)));
  }
  // Keeps where each maximum is: every VJP at this x only scatters.
  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>& work) const override {
    y.resize_batch(x.rows(), this->out_shape);
    work.argmax.resize(static_cast<size_t>(y.size()));
    // Sizes in locals: stores through y and argmax could alias members, and
    // would make the compiler reload them in the inner loop.
    const Index H = this->in_shape[1], W = this->in_shape[2], Ho = this->out_shape[1], Wo = this->out_shape[2];
    const Index k = this->k_, s = this->s_;
    const T* xv = x.data();
    T* yv = y.data();
    int32_t* where = work.argmax.data();
    if (k == 2 && s == 2 && W == 2 * Wo) {
      forward_2x2_stride2(x.rows() * this->in_shape[0], H, W, Ho, Wo, xv, yv, where, work);
      return;
    }
    parallel_for(this->pool, x.rows() * this->in_shape[0], min_rows(H * W), [&](Index p0, Index p1) {
      for (Index plane = p0; plane < p1; ++plane) {
        const T* xp = xv + plane * H * W;
        Index out = plane * Ho * Wo;
        // A row of windows at a time, window offset (i, j) by offset in
        // row-major order: the same comparisons as window by window, but
        // the loop over the row has no branches and vectorises.
        for (Index oh = 0; oh < Ho; ++oh, out += Wo) {
          T* best_value = yv + out;
          int32_t* best = where + out;
          for (Index i = 0; i < k; ++i)
            for (Index j = 0; j < k; ++j) {
              const Index offset = (oh * s + i) * W + j;
              const T* xr = xp + offset;
              if (i == 0 && j == 0) {
                for (Index ow = 0; ow < Wo; ++ow) {
                  best_value[ow] = xr[ow * s];
                  best[ow] = static_cast<int32_t>(offset + ow * s);
                }
                continue;
              }
              if (s == 2)  // the usual stride, as a constant: the loads vectorise
                take_larger<2>(xr, s, Wo, offset, best_value, best);
              else
                take_larger<0>(xr, s, Wo, offset, best_value, best);
            }
        }
      }
    });
  }
  // 2×2 windows at stride 2 over planes of even width (every pooling of the
  // presets), without branches: each row's pairs first, the larger of
  // x[h, 2ow] and x[h, 2ow + 1] (the second if larger or NaN), then the
  // larger of the two rows' winners the same way. Same result as the scan in
  // row-major order: a NaN in the second row wins over anything in the first
  // (it is the window's last NaN); else the second row's winner wins only if
  // larger (the first maximum). The pairs of a plane are consecutive values,
  // so the first pass is one long loop the compiler vectorises.
  void forward_2x2_stride2(Index planes, Index H, Index W, Index Ho, Index Wo, const T* xv, T* yv, int32_t* where,
                      LayerWork<T>& work) const {
    prepare_parts(work, this->pool);
    parallel_parts(this->pool, planes, min_rows(H * W), [&](int part, Index p0, Index p1) {
      const Index pairs = 2 * Ho * Wo;  // the first 2·Ho rows' pairs (an odd last row is outside every window)
      T* pair_value = work.part_buffer(part, static_cast<size_t>(pairs));
      int32_t* pair_at = work.part_position_buffer(part, static_cast<size_t>(pairs));
      for (Index plane = p0; plane < p1; ++plane) {
        larger_of_pairs(xv + plane * H * W, static_cast<int32_t>(pairs), pair_value, pair_at);
        T* y = yv + plane * Ho * Wo;
        int32_t* at = where + plane * Ho * Wo;
        for (Index oh = 0; oh < Ho; ++oh)
          larger_of_rows(pair_value + 2 * oh * Wo, pair_at + 2 * oh * Wo, static_cast<int32_t>(Wo), y + oh * Wo,
                         at + oh * Wo);
      }
    });
  }
  // Whether v, met after best in a window's row-major scan, replaces it:
  // larger, or NaN (PyTorch's max_pool2d propagates NaN, and keeps the first
  // of equal maxima). A bitwise or, so that no branch is asked for.
  static bool replaces(T v, T best) { return (v > best) | (v != v); }
  static void larger_of_pairs(const T* __restrict x, int32_t pairs, T* __restrict value, int32_t* __restrict at) {
    for (int32_t q = 0; q < pairs; ++q) {
      const T a = x[2 * q], b = x[2 * q + 1];
      const bool take = replaces(b, a);
      value[q] = take ? b : a;
      at[q] = 2 * q + static_cast<int32_t>(take);
    }
  }
  // Row oh's winners from the pairs of rows 2·oh (first) and 2·oh + 1 (n
  // after). Rows are short (13 on MNIST): the selects are masks on the bits,
  // which the compiler cannot turn back into branches on unordered compares.
  static void larger_of_rows(const T* __restrict value, const int32_t* __restrict at, int32_t n, T* __restrict y,
                             int32_t* __restrict where) {
    using Bits = BitsOf<T>;
    for (int32_t i = 0; i < n; ++i) {
      const T a = value[i], b = value[n + i];
      const Bits take = static_cast<Bits>(replaces(b, a));
      Bits a_bits, b_bits;
      std::memcpy(&a_bits, &a, sizeof a);
      std::memcpy(&b_bits, &b, sizeof b);
      const Bits picked = a_bits ^ ((a_bits ^ b_bits) & (Bits(0) - take));
      std::memcpy(&y[i], &picked, sizeof picked);
      const int32_t ia = at[i], ib = at[n + i];
      where[i] = ia ^ ((ia ^ ib) & -static_cast<int32_t>(take));
    }
  }
  // Over a row of windows: where x[ow·s] (xr[ow·s], at `offset` + ow·s in
  // the plane) is larger than the best so far, or NaN, it becomes the best.
  // S: the stride as a constant (0: use `stride`).
  template <Index S>
  static void take_larger(const T* __restrict xr, Index stride, Index Wo, Index offset, T* __restrict best_value,
                          int32_t* __restrict best) {
    // 32-bit positions (a plane holds at most kMaxSampleElements values), so
    // that they share vector lanes with the floats.
    const int32_t s = static_cast<int32_t>(S ? S : stride), n = static_cast<int32_t>(Wo);
    const int32_t at = static_cast<int32_t>(offset);
    for (int32_t ow = 0; ow < n; ++ow) {
      const T v = xr[ow * s];
      const bool take = replaces(v, best_value[ow]);
      best_value[ow] = take ? v : best_value[ow];
      best[ow] = take ? at + ow * s : best[ow];
    }
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>& work) const override {
    scatter_gradient<false>(x, y, gy, gx, work);
  }
  // After ReLU (x = ReLU(u)), each window sends its gradient to one place,
  // where x is the window's y, so ReLU's mask there is y's (as in ReLU's VJP):
  //   gu[where] += (y ≤ 0 ? 0 : gy), zero elsewhere,
  // the same values as the two VJPs in turn, without ReLU's pass over x's
  // values and their gradients (four times the pooled size at 2×2).
  bool vjp_input_through(const Layer<T>& below, const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy,
                         Tensor<T>& gu, LayerWork<T>& work) const override {
    if (!after_relu(below)) return false;
    scatter_gradient<true>(x, y, gy, gu, work);
    return true;
  }
  bool gives_samples_through(const Layer<T>& below) const override { return after_relu(below); }
  void sample_vjp_input_through(const Layer<T>&, const Tensor<T>& y, const Tensor<T>& gy, Index b, T* gu_b,
                                Index stride, Index pitch, const LayerWork<T>& work) const override {
    check_kept(work, y);
    const Index C = this->in_shape[0];
    for (Index c = 0; c < C; ++c)
      scatter_plane<true>(b * C + c, y.data(), gy.data(), work.argmax.data(), gu_b + c * stride, pitch);
  }

 private:
  static bool after_relu(const Layer<T>& below) { return dynamic_cast<const ReLU<T>*>(&below) != nullptr; }
  void check_kept(const LayerWork<T>& work, const Tensor<T>& y) const {
    if (static_cast<Index>(work.argmax.size()) != y.size()) throw Error("maxpool2d: VJP without its forward pass");
  }
  template <bool AfterReLU>
  void scatter_gradient(const Tensor<T>& x, const Tensor<T>& y, const Tensor<T>& gy, Tensor<T>& gx,
                        LayerWork<T>& work) const {
    check_kept(work, y);
    gx.resize(x.shape());
    const Index C = this->in_shape[0], H = this->in_shape[1], W = this->in_shape[2];
    parallel_for(this->pool, x.rows() * C, min_rows(H * W), [&](Index p0, Index p1) {
      for (Index plane = p0; plane < p1; ++plane)
        scatter_plane<AfterReLU>(plane, y.data(), gy.data(), work.argmax.data(), gx.data() + plane * H * W, W);
    });
  }
  // Plane `plane`'s gradient at the input, its row h at g + h·pitch (the
  // values between rows, pitch > W, are left).
  template <bool AfterReLU>
  void scatter_plane(Index plane, const T* yv, const T* gyv, const int32_t* where, T* g, Index pitch) const {
    if (this->k_ == 2 && this->s_ == 2) return scatter_2x2<AfterReLU>(plane, yv, gyv, where, g, pitch);
    scatter_windows<AfterReLU>(plane, yv, gyv, where, g, pitch);
  }
  // 2×2 windows at stride 2 (every pooling of the presets): each window
  // writes its four values, its gradient where its maximum is and zeros at
  // the other three, so the plane needs no fill first and no value is read
  // back (an odd last row or column, outside every window, is zeroed). A
  // stretch of windows at a time (whole rows; MNIST's whole plane) in one
  // flat loop that vectorises, the selects masks on the bits: both output
  // rows of each window, side by side in scratch; then the rows copied out
  // in packets (through copy_run the FixedPred step took 66.4 → 71.1 ms,
  // inlined or not). 2.3× faster than zeros and a scalar scatter on MNIST's
  // 26 × 26 planes with AVX-512, 2.0× with AVX2, 1.5× with SSE2. Adding 0
  // turns a −0 gradient into +0, as PyTorch's add into zeros does.
  template <bool AfterReLU>
  void scatter_2x2(Index plane, const T* yv, const T* gyv, const int32_t* where, T* g, Index pitch) const {
    using namespace Eigen::internal;
    using Packet = typename packet_traits<T>::type;
    constexpr Index P = packet_traits<T>::size;
    constexpr Index kStretch = 256;  // windows at once
    const Index Ho = this->out_shape[1], Wo = this->out_shape[2], H = this->in_shape[1], W = this->in_shape[2];
    if (2 * Wo < P) return scatter_windows<AfterReLU>(plane, yv, gyv, where, g, pitch);
    T top_rows[2 * kStretch], bottom_rows[2 * kStretch];
    const Index n = std::min(kStretch, Wo);  // windows of a row at once
    const Index rows_at_once = std::max(Index(1), kStretch / Wo);
    const int32_t w = static_cast<int32_t>(W);
    for (Index oh0 = 0; oh0 < Ho; oh0 += rows_at_once) {
      const Index rows = std::min(rows_at_once, Ho - oh0);
      for (Index c = 0;; c += kStretch) {
        c = std::min(c, Wo - n);  // a last stretch overlaps the one before (the same values again)
        const Index first = oh0 * Wo + c, out = plane * Ho * Wo + first;
        const T* __restrict y = yv + out;
        const T* __restrict gy = gyv + out;
        const int32_t* __restrict at = where + out;
        const int32_t* __restrict start = window_start_.data() + first;
        T* __restrict top = top_rows;
        T* __restrict bottom = bottom_rows;
        for (int32_t i = 0; i < static_cast<int32_t>(rows * n); ++i) {
          const T value = (AfterReLU ? ReLU<T>::masked_bits(y[i], gy[i]) : gy[i]) + T(0);
          const int32_t d = at[i] - start[i];  // 0, 1, W or W + 1 in the window
          top[2 * i] = kept_if(d == 0, value);
          top[2 * i + 1] = kept_if(d == 1, value);
          bottom[2 * i] = kept_if(d == w, value);
          bottom[2 * i + 1] = kept_if(d == w + 1, value);
        }
        const Index len = 2 * n;
        for (Index r = 0; r < rows; ++r) {
          T* g_top = g + 2 * (oh0 + r) * pitch + 2 * c;
          for (Index q = 0;; q += P) {
            q = std::min(q, len - P);  // the last packet overlaps the one before
            pstoreu(g_top + q, ploadu<Packet>(top_rows + r * len + q));
            pstoreu(g_top + pitch + q, ploadu<Packet>(bottom_rows + r * len + q));
            if (q + P == len) break;
          }
        }
        if (c + n == Wo) break;
      }
    }
    if (W > 2 * Wo)
      for (Index h = 0; h < 2 * Ho; ++h) g[h * pitch + 2 * Wo] = T(0);
    if (H > 2 * Ho) std::fill(g + 2 * Ho * pitch, g + 2 * Ho * pitch + W, T(0));
  }
  // Any windows: zeros, then each window's gradient added where its maximum
  // is, windows in forward's order (overlapping ones add up in one order).
  // The maximum at h·W + w in the plane lands at h·pitch + w; h is the
  // window's top row oh·s or one of the k − 1 below it. No branch depends on
  // the values (ReLU's mask is taken on the bits): mispredicted, such
  // branches made this loop twice as long.
  template <bool AfterReLU>
  void scatter_windows(Index plane, const T* yv, const T* gyv, const int32_t* where, T* g, Index pitch) const {
    const Index H = this->in_shape[1], W = this->in_shape[2], Ho = this->out_shape[1], Wo = this->out_shape[2];
    const Index k = this->k_, s = this->s_, gap = pitch - W;
    for (Index h = 0; h < H; ++h) std::fill(g + h * pitch, g + h * pitch + W, T(0));
    Index out = plane * Ho * Wo;
    for (Index oh = 0; oh < Ho; ++oh)
      for (Index ow = 0; ow < Wo; ++ow, ++out) {
        const Index at = where[out], past_top = at - oh * s * W;
        Index h = oh * s;
        for (Index i = 1; i < k; ++i) h += past_top >= i * W;
        g[at + h * gap] += AfterReLU ? ReLU<T>::masked_bits(yv[out], gyv[out]) : gyv[out];
      }
  }

  // 2 × 2 at stride 2: where each window starts in the plane, so that the
  // scatter's loop over a stretch of windows is flat.
  std::vector<int32_t> window_start_;
};

// AvgPool2d: the mean of each window; the gradient is shared equally.
template <typename T>
class AvgPool2d final : public Pool2d<T> {
 public:
  using Pool2d<T>::Pool2d;
  void forward(const Tensor<T>& x, Tensor<T>& y, LayerWork<T>&) const override {
    const Index W = this->in_shape[2], k = this->k_;
    const T scale = T(1) / static_cast<T>(k * k);
    y.resize_batch(x.rows(), this->out_shape);
    this->for_each_window(x.rows(), [&](Index plane, Index at, Index out) {
      T sum = 0;
      for (Index i = 0; i < k; ++i)
        for (Index j = 0; j < k; ++j) sum += x[plane + at + i * W + j];
      y[out] = sum * scale;
    });
  }
  void vjp_input(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& gy, Tensor<T>& gx,
                 LayerWork<T>&) const override {
    const Index W = this->in_shape[2], k = this->k_;
    const T scale = T(1) / static_cast<T>(k * k);
    gx.resize(x.shape());
    gx.set_zero();
    this->for_each_window(x.rows(), [&](Index plane, Index at, Index out) {
      for (Index i = 0; i < k; ++i)
        for (Index j = 0; j < k; ++j) gx[plane + at + i * W + j] += gy[out] * scale;
    });
  }
};

}  // namespace

const std::vector<std::string>& layer_types() {
  static const std::vector<std::string> types = {"linear",  "conv2d",   "maxpool2d", "avgpool2d", "relu",
                                                 "tanh",    "sigmoid",  "identity",  "flatten",  "scale"};
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
    const std::string what = "linear " + std::to_string(in_shape[0]) + " -> " + std::to_string(spec.out);
    if (static_cast<double>(spec.out) * static_cast<double>(in_shape[0]) > kMaxParameters)
      throw Error(what + " would hold more than " + std::to_string(kMaxParameters) + " weights");
    // Against what is left now: the layers before it hold theirs already.
    check_memory(2 * sizeof(T) * static_cast<uint64_t>(spec.out * in_shape[0]), what + " (its weights and their gradient)");
    return std::make_unique<Linear<T>>(in_shape[0], spec.out, spec.bias, spec.normal_init);
  }
  if (t == "conv2d" || t == "maxpool2d" || t == "avgpool2d") {
    if (in_shape.size() != 3) throw Error(t + " expects a [C, H, W] input but gets " + shape_str(in_shape));
    if (spec.kernel < 1) throw Error(t + " needs kernel >= 1");
    const Index pad = t == "conv2d" ? spec.padding : 0;
    const Index stride = spec.stride ? spec.stride : (t == "conv2d" ? 1 : spec.kernel);
    if (pad > spec.kernel) throw Error(t + " padding " + std::to_string(pad) + " is larger than its kernel");
    if (in_shape[1] + 2 * pad < spec.kernel || in_shape[2] + 2 * pad < spec.kernel)
      throw Error(t + " kernel " + std::to_string(spec.kernel) + " is larger than its input " + shape_str(in_shape));
    if (t == "maxpool2d") return std::make_unique<MaxPool2d<T>>(in_shape, spec.kernel, stride);
    if (t == "avgpool2d") return std::make_unique<AvgPool2d<T>>(in_shape, spec.kernel, stride);
    if (spec.in != 0 && spec.in != in_shape[0])
      throw Error("conv2d states in=" + std::to_string(spec.in) + " but its input has " + std::to_string(in_shape[0]) +
                  " channels");
    if (spec.out < 1) throw Error("conv2d needs out >= 1");
    if (static_cast<double>(spec.out) * in_shape[0] * spec.kernel * spec.kernel > kMaxParameters)
      throw Error("conv2d would hold more than " + std::to_string(kMaxParameters) + " weights");
    check_memory(2 * sizeof(T) * static_cast<uint64_t>(spec.out * in_shape[0] * spec.kernel * spec.kernel),
                 "conv2d " + std::to_string(in_shape[0]) + " -> " + std::to_string(spec.out) + " channels, kernel " +
                     std::to_string(spec.kernel) + " (its weights and their gradient)");
    return std::make_unique<Conv2d<T>>(in_shape, spec.out, spec.kernel, stride, pad, spec.bias, spec.normal_init);
  }
  if (t == "relu") return std::make_unique<ReLU<T>>(in_shape);
  if (t == "tanh") return std::make_unique<Tanh<T>>(in_shape);
  if (t == "sigmoid") return std::make_unique<Sigmoid<T>>(in_shape);
  if (t == "identity") return std::make_unique<Copy<T>>(in_shape, in_shape);
  if (t == "flatten") return std::make_unique<Copy<T>>(in_shape, Shape{shape_numel(in_shape)});
  if (t == "scale") {
    if (!std::isfinite(spec.factor)) throw Error("scale needs a finite factor");
    return std::make_unique<Scale<T>>(in_shape, spec.factor);
  }
  throw Error("unknown layer type \"" + t + "\"");
}

template std::unique_ptr<Layer<float>> make_layer<float>(const LayerSpec&, const Shape&);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerSpec&, const Shape&);

}  // namespace pcplay
