#pragma once
// The process's logs: stderr, one line per event, as text or as JSON objects, timestamps with
// their zone. Access lines (one per exchange) go through a logger of their own that a
// background thread writes, so the event loop never waits on stderr; under a flood the oldest
// queued lines are dropped and counted.
#include <spdlog/spdlog.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace mcpgw::log {

enum class Format { text, json };

/// "text" or "json".
std::optional<Format> parse_format(std::string_view name);

/// Configures the process logger with the given level name and format. Returns false if the
/// level name is unknown.
bool init(std::string_view level, Format format = Format::text);

/// Turns access lines on or off (they are on from init, at level info).
void set_access_log(bool on);
/// Whether an access line would be written now.
bool access_enabled() noexcept;

/// One exchange, as its access line says it.
struct Access {
  std::string_view request_id;
  std::string_view principal;  ///< key name or token subject; "-" without one
  std::string_view session;
  std::string_view method;
  std::string_view target;  ///< the tool, prompt or URI the client named
  std::string_view server;
  std::string_view outcome;
  std::uint64_t latency_us = 0;
  std::size_t bytes_out = 0;
};
void access(const Access& a);
/// Access lines dropped because the writer fell behind.
std::uint64_t access_dropped();

/// Writes what is queued (at exit).
void flush();

/// Appends `s` as a JSON string (quoted, escaped; bytes that are not UTF-8 become U+FFFD).
void append_json_string(std::string& out, std::string_view s);

}  // namespace mcpgw::log
