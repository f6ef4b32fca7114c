#include "common/memory.hpp"

#ifdef MCPGW_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#else
#include <malloc.h>
#endif

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

const char* allocator_name() noexcept {
#ifdef MCPGW_USE_JEMALLOC
  return "jemalloc";
#else
  return "glibc";
#endif
}

}  // namespace mcpgw::memory
