// Whole-file reads and atomic writes, the only file I/O the core does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pcplay {

// The largest file read_file reads.
constexpr uint64_t kMaxFileBytes = uint64_t(2) << 30;

// Reads a whole regular file; throws Error "PATH: cannot open (reason)", or
// names why it will not (not a regular file, too large).
std::string read_file(const std::string& path);
// Writes PATH.tmp, flushes it to disk, renames it over PATH and syncs the
// folder: a crash leaves the old file or the new one, never half of one.
void write_file_atomically(const std::string& path, const std::string& contents);

// FNV-1a, 64 bits: a fingerprint of bytes (a checkpoint's data and metrics),
// continued from `h` when the bytes come in parts.
constexpr uint64_t kFnv1aStart = 0xcbf29ce484222325ULL;
inline uint64_t fnv1a(const void* bytes, size_t n, uint64_t h = kFnv1aStart) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

// Whether a file name ends with `suffix` (".csv"), and is more than it.
inline bool has_suffix(const std::string& name, const std::string& suffix) {
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The shortest text that reads back as `v` (as the same float when
// `as_float`): numbers written to files and links that reproduce a run.
std::string shortest_text(double v, bool as_float = false);

}  // namespace pcplay
