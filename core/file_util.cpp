#include "file_util.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sys/stat.h>

#include "error.h"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace pcplay {

std::string read_file(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
  const auto too_large = [&] { return Error(path + ": larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB"); };
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) throw too_large();
  // One read of the expected size (plus a byte, to notice a file that grew):
  // where each read is a round trip to another thread (a browser's file
  // system, from a worker), a stream's 4 KB reads made loading take seconds.
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string data;
  size_t chunk = static_cast<size_t>(st.st_size) + 1;
  for (;;) {
    const size_t at = data.size();
    data.resize(at + chunk);
    const size_t got = std::fread(&data[at], 1, chunk, f.get());
    data.resize(at + got);
    if (got < chunk) break;
    if (data.size() > kMaxFileBytes) throw too_large();
    chunk = size_t(1) << 20;
  }
  if (std::ferror(f.get())) throw Error(path + ": read error");
  return data;
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(path + ": cannot write (" + std::strerror(errno) + ")");
  bool ok = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size() && std::fflush(f) == 0;
#if defined(__unix__) || defined(__APPLE__)
  ok = ok && fsync(fileno(f)) == 0;
#endif
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": write failed (" + std::strerror(errno) + ")");
  }
#if defined(__unix__) || defined(__APPLE__)
  // The rename is durable once the folder's entry is on disk too.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int dir_fd = open(dir.c_str(), O_RDONLY);
  if (dir_fd >= 0) {
    fsync(dir_fd);  // best effort: some file systems cannot sync a folder
    close(dir_fd);
  }
#endif
}

std::string shortest_text(double v, bool as_float) {
  char buf[32];
  if (v == std::floor(v) && std::abs(v) < 1e15) {  // whole numbers as such ("4000", not "4e+03")
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (as_float ? std::strtof(buf, nullptr) == static_cast<float>(v) : std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace pcplay
