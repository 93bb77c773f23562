// What every fuzz target shares: the input as text, a reader's result for
// input it accepts, and the check of a property of that result.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "error.h"

// A property a target checks: when it fails, abort, which libFuzzer reports
// as a crash with the input that caused it.
#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

inline std::string fuzz_text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// What `read` returns, or nothing when it rejects the input cleanly (with a
// pcplay::Error). Anything else it throws escapes, and libFuzzer reports it.
template <typename Read>
auto accepted(Read read) -> std::optional<decltype(read())> {
  try {
    return read();
  } catch (const pcplay::Error&) {
    return std::nullopt;
  }
}
