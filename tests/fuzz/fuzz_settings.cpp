// libFuzzer target: the playground's settings query (a link's hash). It never
// throws; the settings it yields write a query that reads back to themselves
// without a problem.
#include <cstdint>
#include <string>
#include <vector>

#include "settings.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcplay::ui;
  std::vector<std::string> problems;
  const Settings s = from_query(fuzz_text(data, size), Settings(), &problems);
  FUZZ_CHECK(problems.size() <= 11);
  for (const std::string& p : problems) FUZZ_CHECK(p.find('\n') == std::string::npos && p.size() < 300);
  std::vector<std::string> again;
  FUZZ_CHECK(from_query(to_query(s), Settings(), &again) == s);
  FUZZ_CHECK(again.empty());
  return 0;
}
