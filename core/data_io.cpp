#include "data_io.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <sys/stat.h>

#include "error.h"
#include "file_util.h"
#include "random.h"

namespace pcplay {

namespace {

// 4 GiB, or as much as a 32-bit address space (wasm32) can hold.
constexpr size_t kMaxDataBytes =
    static_cast<size_t>(std::min<uint64_t>(uint64_t(4) << 30, std::numeric_limits<size_t>::max() / 2));

bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The first of dir/<prefix><stem>[.gz] that exists, for prefixes train/t10k/test.
std::string find_idx(const std::string& dir, const std::vector<std::string>& names) {
  for (const std::string& n : names)
    for (const char* ext : {".gz", ""})
      if (is_file(dir + "/" + n + ext)) return dir + "/" + n + ext;
  throw Error(dir + ": no " + names[0] + "[.gz] there");
}

uint32_t big_endian_u32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

std::string gunzip_if_needed(const std::string& bytes, const std::string& source, size_t max_bytes) {
  if (bytes.size() < 2 || static_cast<unsigned char>(bytes[0]) != 0x1f || static_cast<unsigned char>(bytes[1]) != 0x8b)
    return bytes;
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw Error(source + ": cannot start gzip decoding");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  std::string out;
  char buffer[1 << 16];
  int status;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof buffer;
    status = inflate(&zs, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      inflateEnd(&zs);
      throw Error(source + ": corrupt or truncated gzip data");
    }
    out.append(buffer, sizeof buffer - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      throw Error(source + ": decompresses to more than " + std::to_string(max_bytes >> 20) + " MiB");
    }
  } while (status != Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

// IDX: two zero bytes, a type code, the number of dimensions; each dimension
// as a big-endian u32; then the values, big-endian.
IdxArray parse_idx(const std::string& raw, const std::string& source) {
  const std::string bytes = gunzip_if_needed(raw, source, kMaxDataBytes);
  auto fail = [&](const std::string& what) { return Error(source + ": " + what); };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4 || p[0] != 0 || p[1] != 0) throw fail("not an IDX file (bad magic number)");
  const unsigned type = p[2], ndims = p[3];
  size_t elem;
  switch (type) {
    case 0x08: case 0x09: elem = 1; break;  // unsigned / signed byte
    case 0x0B: elem = 2; break;             // short
    case 0x0C: case 0x0D: elem = 4; break;  // int, float
    case 0x0E: elem = 8; break;             // double
    default: throw fail("unknown IDX data type 0x" + std::to_string(type));
  }
  if (ndims < 1 || ndims > 4) throw fail("IDX files with " + std::to_string(ndims) + " dimensions are not supported");
  if (bytes.size() < 4 + 4 * size_t(ndims)) throw fail("truncated header");
  IdxArray a;
  uint64_t count = 1;
  for (unsigned d = 0; d < ndims; ++d) {
    const uint32_t n = big_endian_u32(p + 4 + 4 * d);
    count *= n;
    if (count > kMaxDataBytes) throw fail("dimensions are implausibly large");
    a.shape.push_back(static_cast<Index>(n));
  }
  const size_t offset = 4 + 4 * size_t(ndims);
  if (bytes.size() - offset != count * elem)
    throw fail("holds " + std::to_string(bytes.size() - offset) + " data bytes but its dimensions " +
               shape_str(a.shape) + " need " + std::to_string(count * elem));
  a.values.resize(count);
  a.scaled_bytes = type == 0x08;
  const unsigned char* d = p + offset;
  for (uint64_t i = 0; i < count; ++i, d += elem) {
    uint64_t bits = 0;
    for (size_t b = 0; b < elem; ++b) bits = (bits << 8) | d[b];
    float v;
    switch (type) {
      case 0x08: v = static_cast<float>(bits) / 255.0f; break;
      case 0x09: v = static_cast<float>(static_cast<int8_t>(bits)); break;
      case 0x0B: v = static_cast<float>(static_cast<int16_t>(bits)); break;
      case 0x0C: v = static_cast<float>(static_cast<int32_t>(bits)); break;
      case 0x0D: { uint32_t b32 = static_cast<uint32_t>(bits); float f; std::memcpy(&f, &b32, 4); v = f; break; }
      default: { double f; std::memcpy(&f, &bits, 8); v = static_cast<float>(f); break; }
    }
    if (!std::isfinite(v)) throw fail("value " + std::to_string(i) + " is not a finite float");
    a.values[i] = v;
  }
  return a;
}

IdxArray read_idx(const std::string& path) { return parse_idx(read_file(path), path); }

Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx(images_path), labels = read_idx(labels_path);
  if (labels.shape.size() != 1) throw Error(labels_path + ": labels must be one-dimensional, got " + shape_str(labels.shape));
  if (images.shape.size() < 2 || images.shape[0] != labels.shape[0])
    throw Error(images_path + ": " + std::to_string(images.shape.empty() ? 0 : images.shape[0]) + " images but " +
                labels_path + " has " + std::to_string(labels.shape[0]) + " labels");
  Dataset d;
  d.sample_shape.assign(images.shape.begin() + 1, images.shape.end());
  if (d.sample_shape.size() == 2) d.sample_shape.insert(d.sample_shape.begin(), 1);  // [1, H, W]
  d.x = std::move(images.values);
  d.labels.resize(labels.values.size());
  for (size_t i = 0; i < labels.values.size(); ++i) {
    const float raw = labels.scaled_bytes ? labels.values[i] * 255.0f : labels.values[i];
    const float label = std::round(raw);
    if (label < 0 || label != raw || label > 1e6f)
      throw Error(labels_path + ": label " + std::to_string(raw) + " of sample " + std::to_string(i) +
                  " is not a class index");
    d.labels[i] = static_cast<int64_t>(label);
    d.num_classes = std::max<Index>(d.num_classes, d.labels[i] + 1);
  }
  return d;
}

Dataset parse_csv(const std::string& text, const std::string& source) {
  Dataset d;
  std::istringstream in(text);
  std::string line;
  size_t line_no = 0, columns = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::vector<double> fields;
    std::stringstream row(line);
    std::string field;
    size_t bad_column = 0;
    bool numeric = true;
    while (numeric && std::getline(row, field, ',')) {
      const char* begin = field.c_str();
      char* end = nullptr;
      const double v = std::strtod(begin, &end);
      while (end && (*end == ' ' || *end == '\t')) ++end;
      numeric = end != begin && *end == '\0' && std::isfinite(v) && std::abs(v) <= 3.4e38;  // fits a float
      if (numeric) fields.push_back(v);
      else bad_column = fields.size() + 1;
    }
    const std::string where = source + ":" + std::to_string(line_no);
    if (!numeric) {
      if (d.labels.empty() && columns == 0 && fields.empty()) {  // a header: its first field is a name
        columns = static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1;
        continue;
      }
      throw Error(where + ": column " + std::to_string(bad_column) + " is not a number");
    }
    if (columns == 0) columns = fields.size();
    if (fields.size() != columns)
      throw Error(where + ": " + std::to_string(fields.size()) + " columns where the file has " + std::to_string(columns));
    if (columns < 2) throw Error(where + ": a row needs at least one feature and a label");
    const double label = fields.back();
    if (label < 0 || label != std::floor(label) || label > 1e6)
      throw Error(where + ": the label (last column) must be a class index, got " + std::to_string(label));
    for (size_t i = 0; i + 1 < fields.size(); ++i) d.x.push_back(static_cast<float>(fields[i]));
    d.labels.push_back(static_cast<int64_t>(label));
    d.num_classes = std::max<Index>(d.num_classes, d.labels.back() + 1);
  }
  if (d.labels.empty()) throw Error(source + ": no data rows");
  d.sample_shape = {static_cast<Index>(columns - 1)};
  return d;
}

DataSplit split_dataset(Dataset all, double train_ratio, uint64_t seed) {
  if (all.size() < 2) throw Error("a data set needs at least two samples to split");
  Rng rng(seed);
  std::vector<Index> order(all.size());
  for (Index i = 0; i < all.size(); ++i) order[i] = i;
  rng.shuffle(order);
  const Index n_train = std::clamp<Index>(static_cast<Index>(std::floor(all.size() * train_ratio)), 1, all.size() - 1);
  const Index per = shape_numel(all.sample_shape);
  DataSplit split;
  for (Dataset* part : {&split.train, &split.test}) {
    part->sample_shape = all.sample_shape;
    part->num_classes = all.num_classes;
  }
  for (Index k = 0; k < all.size(); ++k) {
    Dataset& part = k < n_train ? split.train : split.test;
    const float* src = all.x.data() + order[k] * per;
    part.x.insert(part.x.end(), src, src + per);
    part.labels.push_back(all.labels[order[k]]);
  }
  return split;
}

std::string named_dataset_dir(const std::string& name, const std::string& data_dir) { return data_dir + "/" + name; }

DataSplit load_data(const std::string& name, const DataOptions& options) {
  if (is_toy_dataset(name)) return make_toy_data({name, options.samples, options.noise, options.train_ratio, options.seed});
  std::string dir = name;
  if (is_named_dataset(name)) {
    dir = named_dataset_dir(name, options.data_dir);
    if (!is_dir(dir))
      throw Error("data set \"" + name + "\" is not in " + options.data_dir +
                  " (run scripts/setup.sh, or point --data-dir or PCPLAY_DATA at it)");
  }
  if (is_dir(dir)) {
    DataSplit split;
    split.train = read_idx_dataset(find_idx(dir, {"train-images-idx3-ubyte", "train-images"}),
                                   find_idx(dir, {"train-labels-idx1-ubyte", "train-labels"}));
    split.test = read_idx_dataset(find_idx(dir, {"t10k-images-idx3-ubyte", "test-images-idx3-ubyte", "test-images"}),
                                  find_idx(dir, {"t10k-labels-idx1-ubyte", "test-labels-idx1-ubyte", "test-labels"}));
    if (split.train.sample_shape != split.test.sample_shape)
      throw Error(dir + ": training and test images differ in shape");
    split.train.num_classes = split.test.num_classes = std::max(split.train.num_classes, split.test.num_classes);
    return split;
  }
  if (is_file(name)) {
    DataSplit split = split_dataset(parse_csv(read_file(name), name), options.train_ratio, options.seed);
    return split;
  }
  throw Error("unknown data set \"" + name + "\" (expected " + name_list(names_of(named_datasets())) +
              ", a folder of IDX files or a CSV file)");
}

}  // namespace pcplay
