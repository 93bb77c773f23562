// Whole-file reads and atomic writes, the only file I/O the core does.
#pragma once

#include <string>

namespace pcplay {

// Throws Error "PATH: cannot open (reason)".
std::string read_file(const std::string& path);
// Writes PATH.tmp, flushes it to disk, then renames it over PATH.
void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace pcplay
