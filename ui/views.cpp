#include "views.h"

#include <algorithm>
#include <cmath>

namespace pcplay::ui {

namespace {
constexpr int kSampleImages = 16;  // test images shown with their predictions
constexpr Index kConfusionImages = 2000;
constexpr Index kConfusionChunk = 250;  // per call: a few ms of the paper's CNN in wasm
constexpr int kMaxConfusionClasses = 100;

// An image-shaped view of one sample's activation-sized tensor: [C, H, W]
// averages |·| over channels; a flat vector becomes a near-square tile.
LayerMap layer_map(const std::string& title, const Tensor<float>& t, const Shape& shape) {
  LayerMap m;
  m.title = title;
  const Index per = shape_numel(shape);
  if (shape.size() == 3) {
    m.width = static_cast<int>(shape[2]);
    m.height = static_cast<int>(shape[1]);
    m.values.assign(static_cast<size_t>(m.width) * m.height, 0.0f);
    for (Index c = 0; c < shape[0]; ++c)
      for (Index i = 0; i < shape[1] * shape[2]; ++i) m.values[i] += std::abs(t[c * shape[1] * shape[2] + i]) / shape[0];
  } else {
    m.width = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(per))));
    m.height = static_cast<int>((per + m.width - 1) / m.width);
    m.values.assign(static_cast<size_t>(m.width) * m.height, 0.0f);
    for (Index i = 0; i < per; ++i) m.values[i] = std::abs(t[i]);
  }
  return m;
}

}  // namespace

std::shared_ptr<const std::vector<float>> point_sample(const Dataset& d, size_t most) {
  auto out = std::make_shared<std::vector<float>>();
  const size_t n = static_cast<size_t>(d.size()), stride = std::max<size_t>(1, (n + most - 1) / most);
  for (size_t i = 0; i < n; i += stride) {
    out->push_back(d.x[2 * i]);
    out->push_back(d.x[2 * i + 1]);
    out->push_back(static_cast<float>(d.labels[i]));
  }
  return out;
}

std::vector<float> decision_boundary(const Model<float>& model, int grid, float extent) {
  Tensor<float> x({grid * grid, 2});
  for (int i = 0; i < grid; ++i)
    for (int j = 0; j < grid; ++j) {
      x[2 * (i * grid + j)] = -extent + 2 * extent * (j + 0.5f) / grid;
      x[2 * (i * grid + j) + 1] = extent - 2 * extent * (i + 0.5f) / grid;
    }
  const Tensor<float> y = model.predict(x);
  std::vector<float> p(static_cast<size_t>(grid) * grid);
  for (Index k = 0; k < grid * grid; ++k) {  // P(class 1): softmax over two logits
    const float a = y.matrix()(k, 0), b = y.matrix().cols() > 1 ? y.matrix()(k, 1) : 0.0f;
    p[k] = 1.0f / (1.0f + std::exp(a - b));
  }
  return p;
}

std::shared_ptr<const ImageViews> image_views(const Model<float>& model, const Dataset& test, int chosen, ErrType err,
                                              float eta, int n, ConfusionCache& confusion) {
  auto v = std::make_shared<ImageViews>();
  v->height = static_cast<int>(test.sample_shape[1]);
  v->width = static_cast<int>(test.sample_shape[2]);
  v->classes = static_cast<int>(model.output_shape()[0]);
  const Index per = shape_numel(test.sample_shape);
  std::vector<Index> idx;
  for (Index i = 0; i < std::min<Index>(kSampleImages, test.size()); ++i) idx.push_back(i);
  Tensor<float> x;
  std::vector<int64_t> labels;
  gather_batch(test, idx.data(), static_cast<Index>(idx.size()), x, labels);
  const Tensor<float> y = model.predict(x);
  for (size_t k = 0; k < idx.size(); ++k) {
    Index best;
    y.matrix().row(k).maxCoeff(&best);
    v->predictions.push_back(static_cast<int>(best));
    v->labels.push_back(static_cast<int>(labels[k]));
    const float* first_channel = x.data() + k * per;
    v->images.insert(v->images.end(), first_channel, first_channel + v->width * v->height);
  }
  // The confusion matrix over the first test images, kConfusionChunk more per call.
  if (v->classes <= kMaxConfusionClasses) {
    const size_t cells = static_cast<size_t>(v->classes) * v->classes;
    if (confusion.partial.size() != cells || confusion.next == 0) confusion.partial.assign(cells, 0), confusion.next = 0;
    const Index count = std::min(kConfusionImages, test.size());
    std::vector<Index> chunk;
    for (Index i = confusion.next; i < std::min(count, confusion.next + kConfusionChunk); ++i) chunk.push_back(i);
    gather_batch(test, chunk.data(), static_cast<Index>(chunk.size()), x, labels);
    const Tensor<float> out = model.predict(x);
    for (size_t k = 0; k < chunk.size(); ++k) {
      Index best;
      out.matrix().row(k).maxCoeff(&best);
      if (labels[k] < v->classes) ++confusion.partial[static_cast<size_t>(labels[k]) * v->classes + best];
    }
    confusion.next += static_cast<Index>(chunk.size());
    if (confusion.next >= count || confusion.counts.size() != cells) {  // a whole count (or the first partial one)
      confusion.counts = confusion.partial;
      if (confusion.next >= count) confusion.next = 0;
    }
    v->confusion = confusion.counts;
  }
  // For the chosen image: |eps| of this error type and backprop's gradient, per layer.
  v->chosen = std::clamp(chosen, 0, std::max(0, static_cast<int>(idx.size()) - 1));
  Index one = v->chosen;
  gather_batch(test, &one, 1, x, labels);
  const Targets<float> target = targets_from_labels<float>(model.loss(), labels, model.output_shape()[0]);
  Model<float> copy = model;
  PCResult<float> pc = pc_infer(copy, x, target, err, eta, n);
  PCResult<float> bp = pc_infer(copy, x, target, ErrType::Exact, 0.0f, 0);
  for (Index l = 1; l <= model.depth(); ++l) {
    v->eps_maps.push_back(pc.eps[l].defined() ? layer_map("|eps_" + std::to_string(l) + "|", pc.eps[l], model.shape_at(l))
                                              : LayerMap{});
    v->grad_maps.push_back(layer_map("|dL/dv_" + std::to_string(l) + "|", bp.eps[l], model.shape_at(l)));
  }
  return v;
}

}  // namespace pcplay::ui
