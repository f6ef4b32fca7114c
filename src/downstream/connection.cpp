// One connection's loop: reading a request within its limits and deadlines, and writing
// responses (the preformatted JSON fast path, write deadlines).
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

asio::awaitable<void> HttpServer::Impl::serve(Conn& c) {
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(gw_.limits.max_header_bytes, UINT32_MAX)));
    parser.body_limit(gw_.limits.max_body_bytes);
    const auto ec = co_await read_request(c, parser);
    if (ec) {
      if (auto res = read_error_response(ec, parser.got_some())) {
        co_await write(c, *res);
        co_await linger(c);
      }
      co_return;
    }
    Request req = parser.release();
    const bool keep = co_await handle(c, req);
    if (!keep || stopping_) {
      co_return;
    }
  }
}

asio::awaitable<boost::system::error_code> HttpServer::Impl::read_request(
    Conn& c, http::request_parser<http::string_body>& parser) {
  if (c.buffer.size() == 0) {
    c.stream.expires_after(gw_.timeouts.connection_idle);
    auto [ec, n] = co_await c.stream.async_read_some(c.buffer.prepare(net::read_amount(c.buffer)),
                                                     asio::as_tuple(asio::use_awaitable));
    c.buffer.commit(n);
    if (ec) {
      co_return ec == asio::error::eof ? boost::system::error_code(http::error::end_of_stream)
                                       : ec;
    }
  }
  c.stream.expires_after(gw_.timeouts.header);
  if (auto ec = co_await net::read_header(c.stream, c.buffer, parser)) {
    co_return ec;
  }
  c.stream.expires_after(gw_.timeouts.body);
  auto ec = co_await net::read_body(c.stream, c.buffer, parser, gw_.limits.max_body_bytes);
  c.stream.expires_never();
  co_return ec;
}

asio::awaitable<void> HttpServer::Impl::linger(Conn& c) {
  constexpr auto kLinger = std::chrono::seconds(2);
  boost::system::error_code ec;
  c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  c.stream.expires_after(kLinger);
  std::array<char, 16 * 1024> sink{};
  for (;;) {
    auto [rec, n] = co_await c.stream.async_read_some(asio::buffer(sink),
                                                      asio::as_tuple(asio::use_awaitable));
    if (rec) {
      break;
    }
  }
}

std::optional<Response> HttpServer::Impl::read_error_response(const boost::system::error_code& ec,
                                                              bool got_some) {
  Request empty;
  std::optional<Response> res;
  if (ec == http::error::body_limit) {
    res = error_response(empty, 413, nullptr, rpc_code::kInvalidRequest,
                         fmt::format("Request body exceeds limits.maxBodyBytes ({} bytes, chunk "
                                     "framing and trailers included)",
                                     gw_.limits.max_body_bytes));
  } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    res = error_response(empty, 431, nullptr, rpc_code::kInvalidRequest,
                         "Request header fields too large (limits.maxHeaderBytes; also a "
                         "chunk-size line or the trailers, and 64 KiB per field)");
  } else if (ec == beast::error::timeout) {
    // The stream closed the socket at its deadline (headerMs, bodyMs): nothing can be sent.
  } else if (ec != http::error::end_of_stream && ec != asio::error::connection_reset &&
             ec != asio::error::operation_aborted && ec != asio::error::eof && got_some) {
    res = error_response(empty, 400, nullptr, rpc_code::kInvalidRequest,
                         fmt::format("Malformed HTTP request: {}", ec.message()));
  }
  if (res) {
    res->keep_alive(false);
  }
  return res;
}

void HttpServer::Impl::common_headers(const Request& req, Response& res) {
  res.set(http::field::server, "mcpgw");
  // CORS only for origins that may use the gateway: a refused page cannot read the refusal.
  if (auto origin = req[http::field::origin]; !origin.empty() && origin_allowed(origin)) {
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_expose_headers,
            "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, X-Request-Id");
    res.set(http::field::vary, "Origin");
  }
}

Response HttpServer::Impl::json_response(const Request& req, unsigned status, std::string body) {
  Response res{static_cast<http::status>(status), req.version() ? req.version() : 11};
  common_headers(req, res);
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.version() == 0 ? false : req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response HttpServer::Impl::error_json(const Request& req, unsigned status,
                                      std::string_view message) {
  json::object o;
  o["error"] = message;
  return json_response(req, status, json::serialize(o));
}

Response HttpServer::Impl::error_response(const Request& req, unsigned status, json::value id,
                                          int code, std::string_view message) {
  return json_response(req, status,
                       jsonrpc::serialize(jsonrpc::make_error(std::move(id), code, message)));
}

Response HttpServer::Impl::error_response(const Request& req, const boost::system::error_code& ec,
                                          json::value id, std::string_view message) {
  return error_response(req, to_http_status(ec), std::move(id), to_rpc_code(ec),
                        message.empty() ? ec.message() : message);
}

asio::awaitable<bool> HttpServer::Impl::write_json(Conn& c, const Request& req, unsigned status,
                                                   std::string_view body,
                                                   std::string_view session_id) {
  const bool keep = req.version() != 10 && req.keep_alive() && !stopping_;
  std::string head;
  head.reserve(256);
  head.append(status == 202   ? "HTTP/1.1 202 Accepted\r\n"
              : status == 400 ? "HTTP/1.1 400 Bad Request\r\n"
                              : "HTTP/1.1 200 OK\r\n");
  head.append("Server: mcpgw\r\nContent-Type: application/json\r\nContent-Length: ");
  head.append(std::to_string(body.size()));
  head.append("\r\n");
  if (!session_id.empty()) {
    head.append("Mcp-Session-Id: ").append(session_id).append("\r\n");
  }
  if (!c.request_id.empty()) {
    head.append("X-Request-Id: ").append(c.request_id).append("\r\n");
  }
  if (auto origin = req[http::field::origin]; !origin.empty()) {
    head.append("Access-Control-Allow-Origin: ").append(origin).append("\r\n");
    head.append("Access-Control-Expose-Headers: Mcp-Session-Id, MCP-Protocol-Version, "
                "WWW-Authenticate, X-Request-Id\r\nVary: Origin\r\n");
  }
  if (!keep) {
    head.append("Connection: close\r\n");
  }
  head.append("\r\n");
  count_response(status);
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body)};
  co_return co_await send(c, buffers) && keep;
}

asio::awaitable<bool> HttpServer::Impl::write(Conn& c, Response& res) {
  if (stopping_) {
    res.keep_alive(false);  // draining: this is the connection's last answer, and says so
  }
  count_response(res.result_int());
  if (!c.request_id.empty()) {
    res.set("X-Request-Id", c.request_id);
  }
  c.stream.expires_after(gw_.timeouts.write);
  auto [ec, n] = co_await http::async_write(c.stream, res, asio::as_tuple(asio::use_awaitable));
  c.stream.expires_never();
  co_return !ec && res.keep_alive();
}

boost::system::result<json::value> HttpServer::Impl::parse_body(const Request& req,
                                                                Response& refusal) {
  auto parsed = jsonrpc::parse(req.body(), gw_.limits.max_json_depth);
  if (!parsed) {
    refusal = error_response(req, make_error_code(Errc::parse_error), nullptr,
                             "Parse error: the body is not valid JSON");
  }
  return parsed;
}

}  // namespace mcpgw::downstream
