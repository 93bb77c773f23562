// libFuzzer target: the IDX reader (plain or gzip). What it accepts has as
// many finite values as its dimensions say.
#include <cmath>
#include <cstdint>
#include <string>

#include "data_io.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcplay;
  const auto a = accepted([&] { return parse_idx(fuzz_text(data, size), "fuzz-idx3-ubyte"); });
  if (!a) return 0;
  FUZZ_CHECK(static_cast<Index>(a->values.size()) == shape_numel(a->shape));
  for (float v : a->values) FUZZ_CHECK(std::isfinite(v));
  return 0;
}
