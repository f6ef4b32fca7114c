#include "client/stdio_channel.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <cstring>
#include <vector>

namespace mcpgw::client {

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kWriteBatch = 64;  ///< lines gathered into one write
}  // namespace

StdioChannel::StdioChannel(asio::any_io_executor ex, int in, int out, std::size_t max_line)
    : ex_(ex), in_(ex, in), out_(ex, out), max_line_(max_line), drained_(ex) {
  drained_.set();
}

asio::awaitable<void> StdioChannel::read_lines(std::function<void(std::string_view)> on_line) {
  auto keep = shared_from_this();
  std::string buf;
  std::size_t scanned = 0;
  for (;;) {
    const auto old = buf.size();
    buf.resize(old + kReadChunk);
    auto [ec, n] = co_await in_.async_read_some(asio::buffer(buf.data() + old, kReadChunk),
                                                asio::as_tuple(asio::use_awaitable));
    buf.resize(old + n);
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted) {
        error_ = fmt::format("reading stdin: {}", ec.message());
      }
      break;
    }
    std::size_t start = 0;
    while (const void* nl = std::memchr(buf.data() + scanned, '\n', buf.size() - scanned)) {
      const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
      std::string_view line(buf.data() + start, end - start);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      if (!line.empty()) {
        on_line(line);
      }
      start = end + 1;
      scanned = start;
    }
    buf.erase(0, start);
    scanned = buf.size();
    if (buf.size() > max_line_) {
      error_ = fmt::format("a message on stdin is larger than {} bytes", max_line_);
      break;
    }
  }
}

void StdioChannel::close_input() {
  boost::system::error_code ignored;
  in_.cancel(ignored);
}

void StdioChannel::write_line(std::string line) {
  if (out_closed_) {
    return;
  }
  line.push_back('\n');
  queue_.push_back(std::move(line));
  drained_.reset();
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(ex_, [self = shared_from_this()] { return self->write_queued(); },
                   asio::detached);
  }
}

asio::awaitable<void> StdioChannel::write_queued() {
  while (!queue_.empty() && !out_closed_) {
    // Lines queued meanwhile go out together in one gathered write.
    std::vector<std::string> batch;
    while (!queue_.empty() && batch.size() < kWriteBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(batch.size());
    for (const auto& l : batch) {
      buffers.emplace_back(asio::buffer(l));
    }
    auto [ec, n] = co_await asio::async_write(out_, buffers, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      error_ = fmt::format("writing stdout: {}", ec.message());
      out_closed_ = true;
      queue_.clear();
    }
  }
  writing_ = false;
  drained_.set();
}

asio::awaitable<void> StdioChannel::flush(Clock::time_point deadline) {
  auto keep = shared_from_this();
  co_await drained_.wait_until(deadline);
}

}  // namespace mcpgw::client
