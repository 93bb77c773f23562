// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value"}}, then the data (offsets relative to it).
// The reader validates every field before it trusts it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model.h"

namespace pcplay {

enum class DType { F32, F64, I64, I32, U8 };

std::string dtype_name(DType dtype);  // "F32", ...
// The dtype that stores T exactly: F32 for float, F64 for double.
template <typename T>
constexpr DType dtype_of() {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
  return sizeof(T) == 4 ? DType::F32 : DType::F64;
}
size_t dtype_size(DType dtype);

// One tensor as stored: raw little-endian bytes.
struct StoredTensor {
  DType dtype = DType::F32;
  Shape shape;
  std::vector<unsigned char> bytes;
};

struct TensorFile {
  std::map<std::string, StoredTensor> tensors;
  std::map<std::string, std::string> metadata;

  bool has(const std::string& name) const { return tensors.count(name) > 0; }
  // Throws Error "tensor NAME is missing" when absent.
  const StoredTensor& at(const std::string& name) const;
};

// Parses a whole file's bytes; throws Error naming `source` and the problem.
TensorFile parse_safetensors(const std::string& bytes, const std::string& source);
std::string serialize_safetensors(const TensorFile& file);
TensorFile read_safetensors(const std::string& path);
// Writes to PATH.tmp, then renames, so a crash never leaves half a file.
void write_safetensors(const std::string& path, const TensorFile& file);

// Stores t as F32 (float) or F64 (double).
template <typename T>
StoredTensor store_tensor(const Tensor<T>& t);
StoredTensor store_labels(const std::vector<int64_t>& labels);  // I64 [B]
// Converts any stored dtype to T (integers exactly where T can hold them).
template <typename T>
Tensor<T> load_tensor(const StoredTensor& stored);
// Integer class labels from an I64, I32 or U8 tensor of rank 1.
std::vector<int64_t> load_labels(const StoredTensor& stored, const std::string& name);

// Model parameters by their state_dict names, as PyTorch's
// safetensors.torch.save_file(model.state_dict()) writes them.
template <typename T>
void store_parameters(Model<T>& model, TensorFile& file, const std::string& prefix = "");
// Loads every parameter; a missing, unexpected or misshapen tensor is an Error.
template <typename T>
void load_parameters(Model<T>& model, const TensorFile& file);

}  // namespace pcplay
