// Memory limits: what a run may still allocate, and a refusal up front (with
// the size needed) of a model or batch that would not fit, rather than a
// crash, a swap storm or a browser tab killed midway.
#pragma once

#include <cstdint>
#include <string>

namespace pcplay {

// What this process can still allocate, about: natively the system's
// available memory (and a cgroup's limit, where one is set); in the browser
// the heap's ceiling less what is in use.
uint64_t memory_available();

// "1.5 GiB", "320 MiB", "12 KiB".
std::string bytes_str(uint64_t bytes);

// Throws Error "WHAT needs about N, more than the M available" past `available`.
void check_memory(uint64_t needed, const std::string& what, uint64_t available);
// The same against memory_available(), which it reads only for sizes past
// 16 MiB (any machine pcplay runs on has that much).
void check_memory(uint64_t needed, const std::string& what);

}  // namespace pcplay
