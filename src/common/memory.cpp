#include "common/memory.hpp"

#ifdef MCPGW_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#else
#include <malloc.h>
#endif

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace mcpgw::memory {

void release_free_memory() noexcept {
#ifdef MCPGW_USE_JEMALLOC
#define MCPGW_STR2(x) #x
#define MCPGW_STR(x) MCPGW_STR2(x)
  mallctl("arena." MCPGW_STR(MALLCTL_ARENAS_ALL) ".purge", nullptr, nullptr, nullptr, 0);
#else
  ::malloc_trim(0);
#endif
}

void decay_free_memory() noexcept {
#ifdef MCPGW_USE_JEMALLOC
  mallctl("arena." MCPGW_STR(MALLCTL_ARENAS_ALL) ".decay", nullptr, nullptr, nullptr, 0);
#endif
}

std::size_t allocated_bytes() noexcept {
#ifdef MCPGW_USE_JEMALLOC
  std::uint64_t epoch = 1;
  std::size_t len = sizeof epoch;
  mallctl("epoch", &epoch, &len, &epoch, len);  // refresh the statistics
  std::size_t allocated = 0;
  len = sizeof allocated;
  if (mallctl("stats.allocated", &allocated, &len, nullptr, 0) != 0) {
    return 0;
  }
  return allocated;
#else
  return ::mallinfo2().uordblks;
#endif
}

const char* allocator_name() noexcept {
#ifdef MCPGW_USE_JEMALLOC
  return "jemalloc";
#else
  return "glibc";
#endif
}

}  // namespace mcpgw::memory

namespace mcpgw::memory {

std::size_t resident_bytes() noexcept {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) {
    return 0;
  }
  unsigned long size = 0;
  unsigned long resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (got != 2) {
    return 0;
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

namespace {

/// memory.max of the cgroup (v2) this process is in; 0 when there is none or it is "max".
std::size_t cgroup_limit() {
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  std::string path;
  while (std::getline(self, line)) {
    if (line.rfind("0::", 0) == 0) {
      path = line.substr(3);
    }
  }
  if (path.empty()) {
    return 0;
  }
  std::ifstream max("/sys/fs/cgroup" + (path == "/" ? std::string() : path) + "/memory.max");
  std::string value;
  if (!(max >> value) || value == "max") {
    return 0;
  }
  try {
    return static_cast<std::size_t>(std::stoull(value));
  } catch (...) {
    return 0;
  }
}

}  // namespace

std::size_t available_bytes() noexcept {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  std::size_t physical = pages > 0 && page > 0 ? static_cast<std::size_t>(pages) *
                                                     static_cast<std::size_t>(page)
                                               : 0;
  std::size_t limit = 0;
  try {
    limit = cgroup_limit();
  } catch (...) {
    limit = 0;
  }
  if (limit != 0 && (physical == 0 || limit < physical)) {
    return limit;
  }
  return physical;
}

}  // namespace mcpgw::memory
