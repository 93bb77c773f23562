#include "memory.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "error.h"

#if defined(__EMSCRIPTEN__)
#include <emscripten/heap.h>
#include <malloc.h>
#elif defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace pcplay {

namespace {

#if !defined(__EMSCRIPTEN__)
// The first number in a file (a /proc or /sys entry), or `otherwise`.
uint64_t number_in(const std::string& path, const std::string& key, uint64_t otherwise) {
  std::ifstream in(path);
  std::string word;
  while (in >> word) {
    if (!key.empty() && word != key) continue;
    if (!key.empty() && !(in >> word)) break;
    try {
      return std::stoull(word);
    } catch (const std::exception&) {  // "max": no limit
      return otherwise;
    }
  }
  return otherwise;
}
#endif

}  // namespace

uint64_t memory_available() {
#if defined(__EMSCRIPTEN__)
  const uint64_t used = static_cast<uint64_t>(mallinfo().uordblks);
  const uint64_t ceiling = emscripten_get_heap_max();
  return ceiling > used ? ceiling - used : 0;
#else
  constexpr uint64_t unknown = std::numeric_limits<uint64_t>::max();
  uint64_t available = number_in("/proc/meminfo", "MemAvailable:", unknown);
  if (available != unknown) available *= 1024;  // kB
#if defined(_SC_AVPHYS_PAGES)
  if (available == unknown) {
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) available = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  }
#endif
  // A container's limit (cgroup v2) can be far below the machine's memory.
  const uint64_t limit = number_in("/sys/fs/cgroup/memory.max", "", unknown);
  if (limit != unknown) {
    const uint64_t current = number_in("/sys/fs/cgroup/memory.current", "", 0);
    available = std::min(available, limit > current ? limit - current : 0);
  }
  return available;
#endif
}

std::string bytes_str(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

void check_memory(uint64_t needed, const std::string& what, uint64_t available) {
  if (needed > available)
    throw Error(what + " needs about " + bytes_str(needed) + ", more than the " + bytes_str(available) + " available");
}

void check_memory(uint64_t needed, const std::string& what) {
  if (needed > (uint64_t(16) << 20)) check_memory(needed, what, memory_available());
}

}  // namespace pcplay
