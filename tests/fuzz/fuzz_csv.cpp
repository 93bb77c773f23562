// libFuzzer target: the CSV data reader. A data set it accepts has one
// sample of features per label, finite features and class-index labels.
#include <cmath>
#include <cstdint>
#include <string>

#include "data_io.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcplay;
  const auto d = accepted([&] { return parse_csv(fuzz_text(data, size), "fuzz.csv"); });
  if (!d) return 0;
  FUZZ_CHECK(d->size() >= 1 && shape_numel(d->sample_shape) >= 1);
  FUZZ_CHECK(static_cast<Index>(d->x.size()) == d->size() * shape_numel(d->sample_shape));
  for (float v : d->x) FUZZ_CHECK(std::isfinite(v));
  for (int64_t label : d->labels) FUZZ_CHECK(label >= 0 && label < d->num_classes);
  return 0;
}
