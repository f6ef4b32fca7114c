// Reading requests with net::read_header / read_body: how many reads of the socket a request
// costs once the connection's buffer has grown to the size of its messages.
#include "net/http_read.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <gtest/gtest.h>

#include <string>

namespace mcpgw::net {
namespace {

using Socket = asio::local::stream_protocol::socket;

/// A socket that counts the reads asked of it.
struct CountingStream {
  Socket& socket;
  int reads = 0;
  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    ++reads;
    return socket.async_read_some(buffers, std::forward<Token>(token));
  }
};

/// A POST whose whole text is `size` bytes.
std::string request_of(std::size_t size) {
  const std::string head =
      "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ";
  for (std::size_t digits = 1; digits < 10; ++digits) {
    const std::size_t body = size - head.size() - digits - 4;
    if (std::to_string(body).size() == digits) {
      return head + std::to_string(body) + "\r\n\r\n" + std::string(body, 'a');
    }
  }
  ADD_FAILURE() << "no body makes " << size << " bytes";
  return {};
}

/// Reads one request from `stream` into `buffer`; returns its body.
std::string read_one(asio::io_context& io, CountingStream& stream, beast::flat_buffer& buffer) {
  std::string body;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    bhttp::request_parser<bhttp::string_body> parser;
    auto ec = co_await read_header(stream, buffer, parser);
    if (!ec) {
      ec = co_await read_body(stream, buffer, parser, 1 << 20);
    }
    EXPECT_FALSE(ec) << ec.message();
    body = parser.get().body();
  }, asio::detached);
  io.restart();
  io.run();
  return body;
}

TEST(HttpRead, ARequestOverHalfAKilobyteIsOneReadOnceTheBufferFitsIt) {
  asio::io_context io;
  Socket client(io), server(io);
  asio::local::connect_pair(client, server);
  const std::string text = request_of(600);
  ASSERT_EQ(text.size(), 600u);
  beast::flat_buffer buffer(80 * 1024);
  CountingStream stream{server};

  asio::write(client, asio::buffer(text));
  EXPECT_EQ(read_one(io, stream, buffer).size(), text.size() - text.find("\r\n\r\n") - 4);
  EXPECT_EQ(stream.reads, 2) << "the first request: 512 bytes, then the rest";
  EXPECT_LT(buffer.capacity(), 2048u) << "the buffer grows to the message, not to 16 KiB";

  stream.reads = 0;
  asio::write(client, asio::buffer(text));
  read_one(io, stream, buffer);
  EXPECT_EQ(stream.reads, 1) << "the next request of that size: one read";
}

TEST(HttpRead, ABodyIsReadInLargeStepsAndCompletely) {
  asio::io_context io;
  Socket client(io), server(io);
  asio::local::connect_pair(client, server);
  const std::string text = request_of(200 * 1024);
  beast::flat_buffer buffer(80 * 1024);
  CountingStream stream{server};
  std::string body;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await asio::async_write(client, asio::buffer(text), asio::use_awaitable);
  }, asio::detached);
  body = read_one(io, stream, buffer);
  EXPECT_EQ(body, std::string(body.size(), 'a'));
  EXPECT_EQ(body.size(), text.size() - text.find("\r\n\r\n") - 4);
  // 13 reads of 16 KiB when the socket holds it all; a few more where the sender refills it.
  // Reads capped at 512 bytes took 400.
  EXPECT_LE(stream.reads, static_cast<int>(text.size() / 4096))
      << "a body is read in steps of many KiB, not 512 bytes";
}

}  // namespace
}  // namespace mcpgw::net
