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
// The number in a /proc or /sys file: the first one, or the one after the
// word `key`; `otherwise` when there is none (or "max": no limit).
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
  // A cgroup's limit (a container's, or systemd's MemoryMax) can be far below
  // the machine's memory. Its usage counts file cache that can be reclaimed.
  auto cap = [&](uint64_t limit, uint64_t usage, uint64_t cache) {
    if (limit == unknown) return;
    const uint64_t used = usage > cache ? usage - cache : 0;
    available = std::min(available, limit > used ? limit - used : 0);
  };
  // cgroup v1, as a container sees its own group.
  const std::string v1 = "/sys/fs/cgroup/memory/";
  cap(number_in(v1 + "memory.limit_in_bytes", "", unknown), number_in(v1 + "memory.usage_in_bytes", "", 0),
      number_in(v1 + "memory.stat", "total_inactive_file", 0));
  // cgroup v2: the process's own group and those above it.
  std::ifstream self("/proc/self/cgroup");
  std::string line, group = "/";
  while (std::getline(self, line))
    if (line.rfind("0::", 0) == 0) group = line.substr(3);
  for (;;) {
    const std::string dir = "/sys/fs/cgroup" + (group == "/" ? "" : group);
    cap(number_in(dir + "/memory.max", "", unknown), number_in(dir + "/memory.current", "", 0),
        number_in(dir + "/memory.stat", "inactive_file", 0));
    if (group.empty() || group == "/") break;
    const size_t slash = group.find_last_of('/');
    group = slash == 0 || slash == std::string::npos ? "/" : group.substr(0, slash);
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
