#include "safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "error.h"
#include "file_util.h"

namespace pcplay {

using json = nlohmann::json;

namespace {
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

const std::pair<const char*, DType> kDTypes[] = {
    {"F32", DType::F32}, {"F64", DType::F64}, {"I64", DType::I64}, {"I32", DType::I32}, {"U8", DType::U8}};

template <typename Dst, typename Src>
void convert(const unsigned char* bytes, Index n, Dst* out) {
  for (Index i = 0; i < n; ++i) {
    Src s;
    std::memcpy(&s, bytes + i * sizeof(Src), sizeof(Src));
    out[i] = static_cast<Dst>(s);
  }
}

template <typename Dst>
void convert_any(const StoredTensor& st, Dst* out) {
  const Index n = shape_numel(st.shape);
  switch (st.dtype) {
    case DType::F32: return convert<Dst, float>(st.bytes.data(), n, out);
    case DType::F64: return convert<Dst, double>(st.bytes.data(), n, out);
    case DType::I64: return convert<Dst, int64_t>(st.bytes.data(), n, out);
    case DType::I32: return convert<Dst, int32_t>(st.bytes.data(), n, out);
    case DType::U8: return convert<Dst, uint8_t>(st.bytes.data(), n, out);
  }
}
}  // namespace

std::string dtype_name(DType dtype) {
  for (const auto& [name, d] : kDTypes)
    if (d == dtype) return name;
  return "?";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 1;
}

const StoredTensor& TensorFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw Error("tensor \"" + name + "\" is missing");
  return it->second;
}

TensorFile parse_safetensors(const std::string& bytes, const std::string& source) {
  auto fail = [&](const std::string& what) { return Error(source + ": " + what); };
  if (bytes.size() < 8) throw fail("not a safetensors file (shorter than its 8-byte header length)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_len > kMaxHeaderBytes) throw fail("header length " + std::to_string(header_len) + " is implausible");
  if (header_len > bytes.size() - 8) throw fail("truncated: the header runs past the end of the file");
  const uint64_t data_size = bytes.size() - 8 - header_len;

  json header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len), nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) throw fail("the header is not a JSON object");

  TensorFile file;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) throw fail("__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) throw fail("__metadata__ value \"" + m.key() + "\" is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { return fail("tensor \"" + name + "\": " + what); };
    if (!entry.is_object()) throw bad("its entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) throw bad("dtype is missing");
    const std::string dname = entry["dtype"].get<std::string>();
    auto d = std::find_if(std::begin(kDTypes), std::end(kDTypes), [&](const auto& p) { return dname == p.first; });
    if (d == std::end(kDTypes)) throw bad("unsupported dtype " + dname + " (pcplay reads F32, F64, I64, I32, U8)");
    StoredTensor st;
    st.dtype = d->second;
    if (!entry.contains("shape") || !entry["shape"].is_array()) throw bad("shape is missing");
    uint64_t numel = 1;
    for (const json& dim : entry["shape"]) {
      if (!dim.is_number_unsigned()) throw bad("shape holds something other than non-negative integers");
      const uint64_t n = dim.get<uint64_t>();
      const uint64_t max_elements = static_cast<uint64_t>(kMaxElements);
      if (n > max_elements || (n > 0 && numel > max_elements / n)) throw bad("shape is implausibly large");
      numel *= n;
      st.shape.push_back(static_cast<Index>(n));
    }
    const json& offsets = entry.contains("data_offsets") ? entry["data_offsets"] : json();
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw bad("data_offsets must be two non-negative integers");
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size) throw bad("data_offsets lie outside the file (truncated?)");
    if (end - begin != numel * dtype_size(st.dtype))
      throw bad("holds " + std::to_string(end - begin) + " bytes but shape " + shape_str(st.shape) + " of " + dname +
                " needs " + std::to_string(numel * dtype_size(st.dtype)));
    const char* start = bytes.data() + 8 + header_len + begin;
    st.bytes.assign(start, start + (end - begin));
    ranges.emplace_back(begin, end);
    file.tensors.emplace(name, std::move(st));
  }
  // As the format's own reader demands: the tensors tile the data exactly.
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  for (const auto& [begin, end] : ranges) {
    if (begin < covered) throw fail("two tensors' data overlap");
    if (begin > covered) throw fail("bytes " + std::to_string(covered) + " to " + std::to_string(begin) +
                                    " of the data belong to no tensor");
    covered = end;
  }
  if (covered != data_size)
    throw fail("the file ends with " + std::to_string(data_size - covered) + " bytes that belong to no tensor");
  return file;
}

std::string serialize_safetensors(const TensorFile& file) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, st] : file.tensors) {
    header[name] = {{"dtype", dtype_name(st.dtype)}, {"shape", st.shape}, {"data_offsets", {offset, offset + st.bytes.size()}}};
    offset += st.bytes.size();
  }
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xff);
  out += text;
  for (const auto& [name, st] : file.tensors) out.append(reinterpret_cast<const char*>(st.bytes.data()), st.bytes.size());
  return out;
}

TensorFile read_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

void write_safetensors(const std::string& path, const TensorFile& file) {
  write_file_atomically(path, serialize_safetensors(file));
}

template <typename T>
StoredTensor store_tensor(const Tensor<T>& t) {
  StoredTensor st;
  st.dtype = dtype_of<T>();
  st.shape = t.shape();
  st.bytes.resize(t.size() * sizeof(T));
  if (t.size()) std::memcpy(st.bytes.data(), t.data(), st.bytes.size());
  return st;
}

StoredTensor store_labels(const std::vector<int64_t>& labels) {
  StoredTensor st;
  st.dtype = DType::I64;
  st.shape = {static_cast<Index>(labels.size())};
  st.bytes.resize(labels.size() * 8);
  if (!labels.empty()) std::memcpy(st.bytes.data(), labels.data(), st.bytes.size());
  return st;
}

template <typename T>
Tensor<T> load_tensor(const StoredTensor& st) {
  Tensor<T> t(st.shape);
  convert_any(st, t.data());
  return t;
}

std::vector<int64_t> load_labels(const StoredTensor& st, const std::string& name) {
  if (st.dtype != DType::I64 && st.dtype != DType::I32 && st.dtype != DType::U8)
    throw Error("\"" + name + "\" must hold integer class labels (I64, I32 or U8), not " + dtype_name(st.dtype));
  if (st.shape.size() != 1) throw Error("\"" + name + "\" must be a vector of labels, got shape " + shape_str(st.shape));
  std::vector<int64_t> labels(st.shape[0]);
  convert_any(st, labels.data());
  return labels;
}

template <typename T>
void store_parameters(Model<T>& model, TensorFile& file, const std::string& prefix) {
  for (const NamedParam<T>& p : model.parameters()) file.tensors[prefix + p.name] = store_tensor(p.param->value);
}

template <typename T>
void load_parameters(Model<T>& model, const TensorFile& file) {
  auto params = model.parameters();
  for (const NamedParam<T>& p : params) {
    auto it = file.tensors.find(p.name);
    if (it == file.tensors.end()) throw Error("parameter \"" + p.name + "\" is missing");
    if (it->second.shape != p.param->value.shape())
      throw Error("parameter \"" + p.name + "\" has shape " + shape_str(it->second.shape) + " but the model needs " +
                  shape_str(p.param->value.shape()));
    p.param->value = load_tensor<T>(it->second);
  }
  for (const auto& entry : file.tensors) {
    const std::string& name = entry.first;  // not a structured binding: clang 14 (wasm) cannot capture those
    bool known = std::any_of(params.begin(), params.end(), [&](const NamedParam<T>& p) { return p.name == name; });
    if (!known) throw Error("unexpected tensor \"" + name + "\" (not a parameter of this model)");
  }
}

#define PCPLAY_INSTANTIATE(T)                                                      \
  template StoredTensor store_tensor<T>(const Tensor<T>&);                         \
  template Tensor<T> load_tensor<T>(const StoredTensor&);                          \
  template void store_parameters<T>(Model<T>&, TensorFile&, const std::string&);   \
  template void load_parameters<T>(Model<T>&, const TensorFile&);
PCPLAY_INSTANTIATE(float)
PCPLAY_INSTANTIATE(double)

}  // namespace pcplay
