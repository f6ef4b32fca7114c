#pragma once
// Reading one HTTP message with Beast's parser, driven by our own loop instead of
// http::async_read, for two reasons:
//  - Beast throws (std::length_error) from inside the parser for a header or trailer field of
//    64 KiB or more. Inside http::async_read that exception escapes through the event loop and
//    ends the process; here the parser runs in the caller's coroutine, so it becomes an error.
//  - Every byte the parser takes is counted, chunk-size lines, chunk extensions and trailers
//    included, so a body is bounded as sent on the wire and not only by its decoded size.
// The buffer's max_size() bounds what must be held at once (a header section, one chunk-size
// line, the trailer section): beyond it the read fails with http::error::buffer_overflow.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>

namespace mcpgw::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

/// What a read step did: the error (none, or why it stopped) and the bytes the parser took.
struct ReadStep {
  beast::error_code ec;
  std::size_t consumed = 0;
};

/// The most bytes asked of the socket in one read.
inline constexpr std::size_t kReadChunk = 64 * 1024;

/// The least asked of the socket while a body arrives (a header asks for 512 bytes at least).
inline constexpr std::size_t kBodyReadFloor = 16 * 1024;

/// How much to ask of the socket: what the buffer already holds free, at least `floor`, so an
/// idle connection keeps a small buffer that grows only with what arrives; never more than
/// kReadChunk or the room left under max_size(). (Not named read_size: with a Beast buffer,
/// argument-dependent lookup would pick beast::read_size, which caps a read at 512 bytes.)
inline std::size_t read_amount(const beast::flat_buffer& buffer,
                               std::size_t floor = 512) noexcept {
  const std::size_t room = buffer.max_size() - buffer.size();
  const std::size_t free = buffer.capacity() - buffer.size();
  return std::min({std::max(floor, free), kReadChunk, room});
}

/// The least to ask of the socket for the rest of a message: 512 bytes while its header
/// arrives; for its body, what remains of it and 512 bytes more (the next message's start), at
/// most kBodyReadFloor. So a connection's buffer grows to its largest message and no further.
template <bool isRequest>
std::size_t read_floor(const bhttp::basic_parser<isRequest>& parser) noexcept {
  if (!parser.is_header_done()) {
    return 512;
  }
  const auto left = parser.content_length_remaining();
  return left ? static_cast<std::size_t>(std::min<std::uint64_t>(kBodyReadFloor, *left + 512))
              : kBodyReadFloor;
}

/// Feeds what is buffered to the parser; an exception from the parser (a field too large for
/// Beast's header container, memory) is returned as http::error::header_limit.
template <bool isRequest>
std::size_t put_buffered(bhttp::basic_parser<isRequest>& parser, beast::flat_buffer& buffer,
                         beast::error_code& ec) noexcept {
  try {
    const std::size_t n = parser.put(buffer.data(), ec);
    buffer.consume(n);
    return n;
  } catch (const std::exception&) {
    ec = bhttp::error::header_limit;
    return 0;
  }
}

/// Parses what is buffered, reading from `stream` only when the parser needs more. Returns
/// after any progress, like http::async_read_some. With a buffer_body, a full body buffer
/// (need_buffer) is progress, not an error.
template <class Stream, bool isRequest>
asio::awaitable<ReadStep> read_some(Stream& stream, beast::flat_buffer& buffer,
                                    bhttp::basic_parser<isRequest>& parser) {
  ReadStep step;
  for (;;) {
    if (buffer.size() > 0) {
      beast::error_code ec;
      step.consumed += put_buffered(parser, buffer, ec);
      if (ec == bhttp::error::need_buffer) {
        co_return step;
      }
      if (ec != bhttp::error::need_more) {
        step.ec = ec;
        co_return step;
      }
      if (step.consumed > 0) {
        co_return step;
      }
    }
    const std::size_t want = read_amount(buffer, read_floor(parser));
    if (want == 0) {
      step.ec = bhttp::error::buffer_overflow;  // one line or section longer than the buffer
      co_return step;
    }
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(want),
                                                   asio::as_tuple(asio::use_awaitable));
    buffer.commit(n);
    if (ec == asio::error::eof) {
      if (!parser.got_some()) {
        step.ec = bhttp::error::end_of_stream;
        co_return step;
      }
      parser.put_eof(step.ec);  // completes a body that runs to the end of the stream
      co_return step;
    }
    if (ec) {
      step.ec = ec;
      co_return step;
    }
  }
}

/// Reads until the header section is complete.
template <class Stream, bool isRequest>
asio::awaitable<beast::error_code> read_header(Stream& stream, beast::flat_buffer& buffer,
                                               bhttp::basic_parser<isRequest>& parser) {
  while (!parser.is_header_done()) {
    auto step = co_await read_some(stream, buffer, parser);
    if (step.ec) {
      co_return step.ec;
    }
  }
  co_return beast::error_code{};
}

/// Reads the rest of the message. Everything the parser takes from here on (body, chunk
/// framing, extensions, trailers) counts against `wire_limit`: beyond it, http::error::body_limit.
template <class Stream, bool isRequest>
asio::awaitable<beast::error_code> read_body(Stream& stream, beast::flat_buffer& buffer,
                                             bhttp::basic_parser<isRequest>& parser,
                                             std::size_t wire_limit) {
  std::size_t taken = 0;
  parser.eager(true);
  while (!parser.is_done()) {
    auto step = co_await read_some(stream, buffer, parser);
    taken += step.consumed;
    if (taken > wire_limit) {
      co_return bhttp::error::body_limit;
    }
    if (step.ec) {
      co_return step.ec;
    }
  }
  co_return beast::error_code{};
}

}  // namespace mcpgw::net
