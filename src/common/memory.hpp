#pragma once
// The allocator, and how much memory the process uses and may use.
#include <cstddef>

namespace mcpgw::memory {

/// Hands memory that has been freed back to the OS (jemalloc: purge every arena; glibc:
/// malloc_trim). O(heap): call it after a crowd has gone, not per request.
void release_free_memory() noexcept;

/// Lets the allocator return pages freed longer ago than its decay time (jemalloc purges them
/// only when something allocates; an idle gateway would keep its peak otherwise). Cheap: call it
/// every few seconds. No-op with glibc.
void decay_free_memory() noexcept;

/// "jemalloc" or "glibc".
const char* allocator_name() noexcept;

/// Bytes the allocator has handed out and not had back (live heap), 0 if unknown.
std::size_t allocated_bytes() noexcept;

/// The process's resident set size in bytes (from /proc/self/statm), 0 if unknown.
std::size_t resident_bytes() noexcept;

/// The most memory the process may use: its cgroup's memory.max if set, else the machine's
/// physical memory. 0 if unknown.
std::size_t available_bytes() noexcept;

}  // namespace mcpgw::memory
