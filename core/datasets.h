// Data sets as the trainer sees them: samples stored as float (whatever the
// training precision), integer class labels. The 2-D toy sets follow
// TensorFlow Playground's generators, scaled from [-6, 6] to about [-1.2, 1.2].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "names.h"
#include "tensor.h"

namespace pcplay {

struct Dataset {
  Shape sample_shape;
  Index num_classes = 0;
  std::vector<float> x;  // size() * numel(sample_shape) values, sample after sample
  std::vector<int64_t> labels;
  Index size() const { return static_cast<Index>(labels.size()); }
};

struct DataSplit {
  Dataset train, test;
};

struct ToyDataConfig {
  std::string name = "circle";  // circle | xor | gauss | spiral
  Index samples = 500;          // before the split
  double noise = 0;             // 0..0.5, as the Playground's 0..50 %
  double train_ratio = 0.5;     // share of the samples used for training
  uint64_t seed = 1;
};

// The data sets known by name: the 2-D toy sets, made here from a seed, and
// image sets read from files (scripts/setup.sh puts them in the data folder;
// a browser fetches them when first chosen). Any other name is a path.
enum class DataOrigin { Generated, Downloaded };
const std::vector<Named<DataOrigin>>& named_datasets();
bool is_named_dataset(const std::string& name);  // exactly (a path may differ only in case)
bool is_toy_dataset(const std::string& name);
// Throws Error on an unknown name or out-of-range settings.
DataSplit make_toy_data(const ToyDataConfig& config);

// A fingerprint of a split's samples and labels (fnv1a): a resumed
// run checks that it trains on the data its checkpoint was made on.
uint64_t data_digest(const DataSplit& data);

// x [count, sample_shape...] and labels of the samples indices[0..count).
template <typename T>
void gather_batch(const Dataset& data, const Index* indices, Index count, Tensor<T>& x, std::vector<int64_t>& labels);

}  // namespace pcplay
