// One exception type for every user-facing failure: bad files, bad shapes,
// bad settings. Its message is one line that names the file or key and the
// problem; front ends print it and exit 2 (CLI) or show it and carry on (UI).
#pragma once

#include <stdexcept>
#include <string>

namespace pcplay {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Prefixes a context ("model.json", "block 2 layer 0") to an error message.
inline Error with_context(const std::string& context, const std::exception& e) {
  return Error(context + ": " + e.what());
}

}  // namespace pcplay
