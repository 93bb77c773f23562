// Where the data sets are by default, for both native programs:
// $PCPLAY_DATA, else ~/.cache/pcplay/data (where scripts/setup.sh puts them).
#pragma once

#include <cstdlib>
#include <string>

namespace pcplay {

inline std::string default_data_dir() {
  if (const char* dir = std::getenv("PCPLAY_DATA"); dir && *dir) return dir;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/pcplay/data";
}

}  // namespace pcplay
