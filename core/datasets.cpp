#include "datasets.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "error.h"
#include "file_util.h"
#include "random.h"

namespace pcplay {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kScale = 1.0 / 5.0;  // Playground coordinates -> about [-1.2, 1.2]

struct Point {
  double x, y;
  int64_t label;
};

// Points inside radius 2.5 are class 1, those in the ring 3.5..5 class 0;
// noise moves the point used for labelling.
std::vector<Point> circle(Index n, double noise, Rng& rng) {
  const double radius = 5;
  std::vector<Point> pts;
  auto add = [&](double r_lo, double r_hi) {
    const double r = rng.uniform(r_lo, r_hi), angle = rng.uniform(0, 2 * kPi);
    const double x = r * std::sin(angle), y = r * std::cos(angle);
    const double nx = rng.uniform(-radius, radius) * noise, ny = rng.uniform(-radius, radius) * noise;
    pts.push_back({x, y, std::hypot(x + nx, y + ny) < radius * 0.5 ? 1 : 0});
  };
  for (Index i = 0; i < n / 2; ++i) add(0, radius * 0.5);
  for (Index i = n / 2; i < n; ++i) add(radius * 0.7, radius);
  return pts;
}

// Quadrants: class 1 where x·y >= 0, kept 0.3 away from the axes.
std::vector<Point> xor_data(Index n, double noise, Rng& rng) {
  const double padding = 0.3;
  std::vector<Point> pts;
  for (Index i = 0; i < n; ++i) {
    double x = rng.uniform(-5, 5), y = rng.uniform(-5, 5);
    x += x > 0 ? padding : -padding;
    y += y > 0 ? padding : -padding;
    const double nx = rng.uniform(-5, 5) * noise, ny = rng.uniform(-5, 5) * noise;
    pts.push_back({x, y, (x + nx) * (y + ny) >= 0 ? 1 : 0});
  }
  return pts;
}

// Two Gaussian clouds at (2, 2) and (-2, -2); noise widens them.
std::vector<Point> gauss(Index n, double noise, Rng& rng) {
  const double variance = 0.5 + noise / 0.5 * 3.5;  // Playground: noise 0..0.5 -> variance 0.5..4
  const double sd = std::sqrt(variance);
  std::vector<Point> pts;
  for (Index i = 0; i < n; ++i) {
    const bool positive = i < n / 2;
    const double c = positive ? 2 : -2;
    const double x = c + sd * rng.normal(), y = c + sd * rng.normal();
    pts.push_back({x, y, positive ? 1 : 0});
  }
  return pts;
}

// Two interleaved spirals.
std::vector<Point> spiral(Index n, double noise, Rng& rng) {
  std::vector<Point> pts;
  const Index half = n / 2;
  auto arm = [&](double delta, int64_t label, Index count) {
    for (Index i = 0; i < count; ++i) {
      const double r = static_cast<double>(i) / count * 5;
      const double t = 1.75 * static_cast<double>(i) / count * 2 * kPi + delta;
      const double x = r * std::sin(t) + rng.uniform(-1, 1) * noise;
      const double y = r * std::cos(t) + rng.uniform(-1, 1) * noise;
      pts.push_back({x, y, label});
    }
  };
  arm(0, 1, half);
  arm(kPi, 0, n - half);
  return pts;
}

Dataset to_dataset(const std::vector<Point>& pts, size_t begin, size_t end) {
  Dataset d;
  d.sample_shape = {2};
  d.num_classes = 2;
  for (size_t i = begin; i < end; ++i) {
    d.x.push_back(static_cast<float>(pts[i].x * kScale));
    d.x.push_back(static_cast<float>(pts[i].y * kScale));
    d.labels.push_back(pts[i].label);
  }
  return d;
}
}  // namespace

const std::vector<Named<DataOrigin>>& named_datasets() {
  static const std::vector<Named<DataOrigin>> sets = {{DataOrigin::Generated, "circle", "circle"},
                                                      {DataOrigin::Generated, "xor", "xor"},
                                                      {DataOrigin::Generated, "gauss", "gauss"},
                                                      {DataOrigin::Generated, "spiral", "spiral"},
                                                      {DataOrigin::Downloaded, "mnist", "mnist"},
                                                      {DataOrigin::Downloaded, "fashion-mnist", "fashion-mnist"}};
  return sets;
}

namespace {
const Named<DataOrigin>* find_dataset(const std::string& name) {
  for (const auto& d : named_datasets())
    if (name == d.name) return &d;
  return nullptr;
}
}  // namespace

bool is_named_dataset(const std::string& name) { return find_dataset(name) != nullptr; }

bool is_toy_dataset(const std::string& name) {
  const Named<DataOrigin>* d = find_dataset(name);
  return d && d->value == DataOrigin::Generated;
}

DataSplit make_toy_data(const ToyDataConfig& c) {
  if (!is_toy_dataset(c.name)) {
    std::vector<std::string> toys;
    for (const auto& d : named_datasets())
      if (d.value == DataOrigin::Generated) toys.push_back(d.name);
    throw Error("unknown data set \"" + c.name + "\" (expected " + name_list(toys) + ")");
  }
  if (c.samples < 4 || c.samples > 10000000) throw Error("samples must lie in [4, 10000000]");
  if (!(c.noise >= 0 && c.noise <= 0.5)) throw Error("noise must lie in [0, 0.5]");
  if (!(c.train_ratio > 0 && c.train_ratio < 1)) throw Error("train ratio must lie strictly between 0 and 1");
  Rng rng(c.seed);
  std::vector<Point> pts = c.name == "circle" ? circle(c.samples, c.noise, rng)
                           : c.name == "xor"  ? xor_data(c.samples, c.noise, rng)
                           : c.name == "gauss" ? gauss(c.samples, c.noise, rng)
                                               : spiral(c.samples, c.noise, rng);
  rng.shuffle(pts);  // then split
  size_t n_train = std::clamp<size_t>(static_cast<size_t>(std::floor(pts.size() * c.train_ratio)), 1, pts.size() - 1);
  return {to_dataset(pts, 0, n_train), to_dataset(pts, n_train, pts.size())};
}

template <typename T>
void gather_batch(const Dataset& data, const Index* indices, Index count, Tensor<T>& x, std::vector<int64_t>& labels) {
  Shape shape{count};
  shape.insert(shape.end(), data.sample_shape.begin(), data.sample_shape.end());
  x.resize(shape);
  labels.resize(count);
  const Index per = shape_numel(data.sample_shape);
  for (Index b = 0; b < count; ++b) {
    const float* src = data.x.data() + indices[b] * per;
    for (Index j = 0; j < per; ++j) x[b * per + j] = static_cast<T>(src[j]);
    labels[b] = data.labels[indices[b]];
  }
}

template void gather_batch<float>(const Dataset&, const Index*, Index, Tensor<float>&, std::vector<int64_t>&);
template void gather_batch<double>(const Dataset&, const Index*, Index, Tensor<double>&, std::vector<int64_t>&);

uint64_t data_digest(const DataSplit& data) {
  uint64_t h = kFnv1aStart;
  for (const Dataset* d : {&data.train, &data.test}) {
    h = fnv1a(d->sample_shape.data(), d->sample_shape.size() * sizeof(Index), h);
    h = fnv1a(d->x.data(), d->x.size() * sizeof(float), h);
    h = fnv1a(d->labels.data(), d->labels.size() * sizeof(int64_t), h);
  }
  return h;
}

}  // namespace pcplay
