// libFuzzer target: the safetensors reader. Whatever it accepts must
// serialize and read back to the same tensors, and convert to float.
#include <cstdint>
#include <string>

#include "safetensors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcplay;
  const auto read = accepted([&] { return parse_safetensors(fuzz_text(data, size), "fuzz.safetensors"); });
  if (!read) return 0;
  const TensorFile& file = *read;
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
