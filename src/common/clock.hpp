#pragma once
// Wall-clock time as stored in audit rows, pins and approvals.
#include <chrono>
#include <cstdint>

namespace mcpgw {

/// Milliseconds since the Unix epoch.
inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace mcpgw
