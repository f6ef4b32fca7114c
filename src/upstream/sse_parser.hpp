#pragma once
// Incremental parser for text/event-stream (the WHATWG "server-sent events" rules), for reading
// MCP servers' SSE replies and streams. Bytes go in as they arrive, in chunks of any size;
// complete events come out.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::upstream {

struct SseEvent {
  std::string type = "message";  ///< the `event:` field, "message" when absent
  std::string data;              ///< `data:` lines joined with "\n"
  std::string id;                ///< the last event id seen so far on this stream
  std::optional<std::uint32_t> retry_ms;  ///< a `retry:` field in this event
};

class SseParser {
 public:
  /// `max_event_bytes` bounds one event's data (and one line): a server cannot make the
  /// gateway buffer without end.
  explicit SseParser(std::size_t max_event_bytes) : max_(max_event_bytes) {}

  /// Feeds the next bytes; calls `on_event(SseEvent&&)` for every complete event. Returns false
  /// (and stops) once an event or line exceeds the limit.
  template <class F>
  bool feed(std::string_view chunk, F&& on_event) {
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const char c = chunk[i];
      if (skip_lf_) {
        skip_lf_ = false;
        if (c == '\n') {
          continue;  // the LF of a CRLF
        }
      }
      if (c == '\r' || c == '\n') {
        skip_lf_ = c == '\r';
        if (line_.empty()) {
          if (dispatchable()) {
            on_event(take());
          } else {
            reset_event();
          }
        } else if (!field()) {
          return false;
        }
        line_.clear();
        continue;
      }
      line_.push_back(c);
      if (line_.size() > max_) {
        return false;
      }
    }
    return true;
  }

  /// The id of the last event (for Last-Event-ID on reconnection).
  const std::string& last_event_id() const noexcept { return last_id_; }
  /// The server's latest `retry:` advice in milliseconds, if any.
  std::optional<std::uint32_t> retry_ms() const noexcept { return retry_; }

 private:
  bool field();
  bool dispatchable() const noexcept { return has_data_; }
  SseEvent take();
  void reset_event();

  std::size_t max_;
  std::string line_;
  std::string data_;
  std::string type_;
  std::string last_id_;
  std::optional<std::uint32_t> retry_;
  std::optional<std::uint32_t> event_retry_;
  bool has_data_ = false;
  bool skip_lf_ = false;
  bool bom_checked_ = false;
};

}  // namespace mcpgw::upstream
