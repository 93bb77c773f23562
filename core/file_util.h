// Whole-file reads and atomic writes, the only file I/O the core does.
#pragma once

#include <cstdint>
#include <string>

namespace pcplay {

// The largest file read_file reads.
constexpr uint64_t kMaxFileBytes = uint64_t(2) << 30;

// Reads a whole regular file; throws Error "PATH: cannot open (reason)", or
// names why it will not (not a regular file, too large).
std::string read_file(const std::string& path);
// Writes PATH.tmp, flushes it to disk, then renames it over PATH.
void write_file_atomically(const std::string& path, const std::string& contents);

// Whether a file name ends with `suffix` (".csv"), and is more than it.
inline bool has_suffix(const std::string& name, const std::string& suffix) {
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace pcplay
