// libFuzzer target: the model file reader. A model it accepts builds, and
// writes back to a file that reads as the same model.
#include <cstdint>
#include <string>

#include "model_file.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcplay;
  const auto spec = accepted([&] { return parse_model_json(fuzz_text(data, size), "fuzz.json"); });
  if (!spec) return 0;
  const std::string text = model_json(*spec);
  FUZZ_CHECK(model_json(parse_model_json(text, "round trip")) == text);
  return 0;
}
