#pragma once
// The allocator, as far as the gateway needs to know about it.

namespace mcpgw::memory {

/// Hands memory that has been freed back to the OS (jemalloc: purge every arena; glibc:
/// malloc_trim). O(heap): call it after a crowd has gone, not per request.
void release_free_memory() noexcept;

/// "jemalloc" or "glibc".
const char* allocator_name() noexcept;

}  // namespace mcpgw::memory
