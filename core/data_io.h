// Reading data sets: IDX files (MNIST's format; gzip or plain), CSV files
// (numeric feature columns, an integer label last), and data sets by name.
// Pixel values of 8-bit images are scaled to [0, 1], as the paper does (no
// normalisation). Every reader validates before it trusts.
#pragma once

#include <string>

#include "datasets.h"

namespace pcplay {

// An IDX array as floats; 8-bit unsigned data is scaled by 1/255.
struct IdxArray {
  Shape shape;
  bool scaled_bytes = false;  // the file held unsigned bytes
  std::vector<float> values;
};

// Inflates gzip data (and passes anything else through); throws Error past max_bytes.
std::string gunzip_if_needed(const std::string& bytes, const std::string& source, size_t max_bytes);
IdxArray parse_idx(const std::string& bytes, const std::string& source);
IdxArray read_idx(const std::string& path);  // gzip or plain

// Images [N, H, W] (a channel is added: samples [1, H, W]), [N, C, H, W] or
// [N, F], with labels [N].
Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path);
// A header row is allowed (recognised by a non-numeric first field).
Dataset parse_csv(const std::string& text, const std::string& source);

// Splits a data set into train and test parts after a seeded shuffle.
DataSplit split_dataset(Dataset all, double train_ratio, uint64_t seed);

struct DataOptions {
  std::string data_dir;      // where the downloaded named sets live (see scripts/setup.sh)
  Index samples = 500;       // toy sets: samples before the split
  double noise = 0;          // toy sets: 0..0.5
  double train_ratio = 0.5;  // toy sets and CSV files: the share used for training
  uint64_t seed = 1;         // toy sets' samples, and a CSV file's split
};

// A named data set (named_datasets()) | a directory of IDX files (train-*,
// t10k-* or test-*) | a .csv file.
DataSplit load_data(const std::string& name_or_path, const DataOptions& options);
// The folder load_data reads a named IDX data set from (it may not exist).
std::string named_dataset_dir(const std::string& name, const std::string& data_dir);

}  // namespace pcplay
