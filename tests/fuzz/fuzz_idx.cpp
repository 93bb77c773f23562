// libFuzzer target: the IDX reader (plain or gzip). What it accepts has as
// many finite values as its dimensions say.
#include <cmath>
#include <cstdint>
#include <string>

#include "data_io.h"
#include "error.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcplay;
  IdxArray a;
  try {
    a = parse_idx(std::string(reinterpret_cast<const char*>(data), size), "fuzz-idx3-ubyte");
  } catch (const Error&) {
    return 0;
  }
  FUZZ_CHECK(static_cast<Index>(a.values.size()) == shape_numel(a.shape));
  for (float v : a.values) FUZZ_CHECK(std::isfinite(v));
  return 0;
}
