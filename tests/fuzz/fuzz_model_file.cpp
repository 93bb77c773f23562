// libFuzzer target: the model file reader. A model it accepts builds, and
// writes back to a file that reads as the same model.
#include <cstdint>
#include <string>

#include "error.h"
#include "model_file.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcplay;
  ModelSpec spec;
  try {
    spec = parse_model_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
  } catch (const Error&) {
    return 0;
  }
  const std::string text = model_json(spec);
  FUZZ_CHECK(model_json(parse_model_json(text, "round trip")) == text);
  return 0;
}
