#pragma once
// Wall-clock time as stored in audit rows, pins and approvals.
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace mcpgw {

/// Milliseconds since the Unix epoch.
inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Seconds since the Unix epoch (token expiries, sealed tickets).
inline std::int64_t unix_s() { return unix_ms() / 1000; }

/// "2026-12-04T03:08Z": a time in Unix seconds, to the minute, in UTC (for listings).
inline std::string utc_minute(std::int64_t unix_s) {
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%MZ", &tm);
  return buf;
}

}  // namespace mcpgw
