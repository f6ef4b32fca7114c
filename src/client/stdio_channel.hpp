#pragma once
// This process's own stdin and stdout as an MCP stdio channel: newline-delimited messages read
// as they arrive, and lines written in order by one writer, without blocking the event loop.
#include "common/event.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace mcpgw::client {

class StdioChannel : public std::enable_shared_from_this<StdioChannel> {
 public:
  /// Takes over descriptors `in` and `out` (normally 0 and 1). Throws if either cannot be
  /// watched by the event loop (a regular file rather than a pipe, a terminal or a socket).
  StdioChannel(asio::any_io_executor ex, int in, int out, std::size_t max_line);

  /// Reads lines until end of input or a read error, calling `on_line` for each non-empty
  /// one (without its newline). A line longer than max_line ends the reading with `error`.
  asio::awaitable<void> read_lines(std::function<void(std::string_view)> on_line);
  /// Ends read_lines as if the input had ended.
  void close_input();
  /// Queues one message; a newline is added. Dropped once the output is closed.
  void write_line(std::string line);
  /// Waits until every queued line is written (or the output broke), until `deadline`.
  asio::awaitable<void> flush(Clock::time_point deadline);
  /// Why reading or writing ended early, or empty.
  const std::string& error() const noexcept { return error_; }
  bool output_closed() const noexcept { return out_closed_; }

 private:
  asio::awaitable<void> write_queued();

  asio::any_io_executor ex_;
  asio::posix::stream_descriptor in_;
  asio::posix::stream_descriptor out_;
  std::size_t max_line_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool out_closed_ = false;
  Event drained_;
  std::string error_;
};

}  // namespace mcpgw::client
