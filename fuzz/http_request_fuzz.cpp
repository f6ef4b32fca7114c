// The front door: raw bytes, as a client would send them, read by net::read_header and
// net::read_body with the listener's default limits, from a stream that hands them over in
// pieces. Nothing may throw out of the read or grow past the limits.
#include "config/config.hpp"
#include "net/http_read.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdlib>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

asio::awaitable<void> read_all(beast::test::stream& s, const mcpgw::config::Limits& limits) {
  beast::flat_buffer buffer(limits.max_header_bytes + mcpgw::net::kReadChunk);
  for (int i = 0; i < 4; ++i) {  // pipelined requests on one connection
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    if (co_await mcpgw::net::read_header(s, buffer, parser)) {
      co_return;
    }
    if (co_await mcpgw::net::read_body(s, buffer, parser, limits.max_body_bytes)) {
      co_return;
    }
    if (parser.get().body().size() > limits.max_body_bytes ||
        buffer.size() > buffer.max_size()) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mcpgw::config::Limits limits;
  limits.max_header_bytes = 2048;  // small, so the fuzzer reaches the limits
  limits.max_body_bytes = 4096;
  static asio::io_context ioc;  // one per process: making one per input costs more than the read
  ioc.restart();
  beast::test::stream client(ioc);
  beast::test::stream server(ioc);
  client.connect(server);
  server.read_size(1 + (size > 0 ? data[0] % 64 : 0));  // deliver the bytes in small pieces
  client.write_some(asio::buffer(data, size));
  client.close();
  asio::co_spawn(ioc, read_all(server, limits), [](std::exception_ptr e) {
    if (e) {
      std::abort();  // an exception escaped the read: exactly what must never happen
    }
  });
  ioc.run();
  return 0;
}
