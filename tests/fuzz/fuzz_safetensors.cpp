// libFuzzer target: the safetensors reader. Whatever it accepts must
// serialize and read back to the same tensors, and convert to float.
#include <cstdint>
#include <string>

#include "error.h"
#include "safetensors.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcplay;
  TensorFile file;
  try {
    file = parse_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
  } catch (const Error&) {
    return 0;  // a clean rejection
  }
  const TensorFile again = parse_safetensors(serialize_safetensors(file), "round trip");
  FUZZ_CHECK(again.metadata == file.metadata);
  FUZZ_CHECK(again.tensors.size() == file.tensors.size());
  for (const auto& [name, stored] : file.tensors) {
    const StoredTensor& back = again.at(name);
    FUZZ_CHECK(back.dtype == stored.dtype && back.shape == stored.shape && back.bytes == stored.bytes);
    FUZZ_CHECK(load_tensor<float>(stored).size() == shape_numel(stored.shape));
  }
  return 0;
}
