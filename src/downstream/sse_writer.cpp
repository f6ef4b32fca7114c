// Writing an event stream: priming, keep-alive, resumption, and noticing a client that left.
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

using namespace asio::experimental::awaitable_operators;

asio::awaitable<bool> HttpServer::Impl::write_raw(Conn& c, std::string_view data) {
  co_return co_await send(c, asio::const_buffer(data.data(), data.size()));
}

asio::awaitable<bool> HttpServer::Impl::write_chunk(Conn& c, std::string_view data, bool chunked) {
  if (!chunked) {
    co_return co_await write_raw(c, data);
  }
  std::string framed = fmt::format("{:x}\r\n", data.size());
  framed.append(data).append("\r\n");
  co_return co_await write_raw(c, framed);
}

asio::awaitable<boost::system::error_code> HttpServer::Impl::probe(Conn& c) {
  const std::size_t want = net::read_amount(c.buffer);
  if (want == 0) {
    co_return http::error::buffer_overflow;  // a client that pipelines without end
  }
  auto [ec, n] = co_await c.stream.socket().async_read_some(c.buffer.prepare(want),
                                                            asio::as_tuple(asio::use_awaitable));
  c.buffer.commit(n);
  co_return ec;
}

asio::awaitable<bool> HttpServer::Impl::write_sse(Conn& c, const Request& req, SessionPtr s,
                                                  std::shared_ptr<EventStream> stream,
                                                  std::uint64_t after, bool priming,
                                                  std::string session_header, bool legacy,
                                                  std::string prelude) {
  const bool chunked = req.version() >= 11;
  count_response(200);
  if (!co_await write_sse_head(c, req, session_header, chunked)) {
    co_return false;
  }
  ++sse_streams_[legacy ? 1 : 0];
  auto open = scope_exit([this, legacy, alive = std::weak_ptr<void>(alive_)] {
    if (!alive.expired()) {
      --sse_streams_[legacy ? 1 : 0];
    }
  });

  const std::uint64_t writer = stream->attach();
  std::uint64_t cursor = after;
  std::string chunk = std::move(prelude);
  if (priming && !legacy) {
    // Priming event (2025-11-25): an id and empty data, so the client can resume from here.
    chunk.append("id: ").append(stream->event_id(cursor)).append("\ndata: \n\n");
  }
  bool client_open = true;
  for (;;) {
    stream->wake().reset();
    if (!stream->is_writer(writer)) {
      break;  // a newer GET took this stream over
    }
    stream->for_each_after(cursor, [&](const relay::StreamEvent& e) {
      append_event(chunk, legacy ? std::string_view() : stream->event_id(e.seq), e.data);
      cursor = e.seq;
    });
    if (!chunk.empty()) {
      if (!co_await write_chunk(c, chunk, chunked)) {
        client_open = false;
        break;
      }
      chunk.clear();
      stream->mark_delivered(cursor);
    }
    if (stream->finished() && cursor >= stream->last_seq()) {
      break;  // everything sent
    }
    if (stopping_ && stream->finished()) {
      break;
    }
    if (!co_await idle(c, *stream, *s, chunked)) {
      client_open = false;
      break;
    }
  }
  stream->detach(writer);
  c.probing = true;
  if (!client_open) {
    co_return false;
  }
  if (!chunked) {
    co_return false;  // HTTP/1.0: the body ends with the connection
  }
  if (!co_await write_raw(c, "0\r\n\r\n")) {
    co_return false;
  }
  // The response is whole (its stream completed, or a newer GET took the stream over): the
  // connection was promised to the client as reusable and stays so. Closing it here would
  // race a client that already sent its next request on it.
  co_return req.keep_alive() && !stopping_;
}

asio::awaitable<bool> HttpServer::Impl::write_sse_head(Conn& c, const Request& req,
                                                       const std::string& session_header,
                                                       bool chunked) {
  http::response<http::empty_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "mcpgw");
  if (auto origin = req[http::field::origin]; !origin.empty()) {
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_expose_headers,
            "Mcp-Session-Id, MCP-Protocol-Version, X-Request-Id");
    res.set(http::field::vary, "Origin");
  }
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache, no-transform");
  res.set("X-Accel-Buffering", "no");
  if (!session_header.empty()) {
    res.set(kSessionHeader, session_header);
  }
  if (!c.request_id.empty()) {
    res.set("X-Request-Id", c.request_id);
  }
  res.keep_alive(chunked && req.keep_alive());
  if (chunked) {
    res.chunked(true);
  }
  http::response_serializer<http::empty_body> sr{res};
  c.stream.expires_after(gw_.timeouts.write);
  auto [hec, hn] = co_await http::async_write_header(c.stream, sr,
                                                     asio::as_tuple(asio::use_awaitable));
  c.stream.expires_never();
  co_return !hec;
}

asio::awaitable<bool> HttpServer::Impl::idle(Conn& c, EventStream& stream, relay::Session& s,
                                             bool chunked) {
  const auto keepalive_at = Clock::now() + gw_.timeouts.keep_alive;
  bool woke = true;
  if (c.probing) {
    auto which = co_await (stream.wake().wait_until(keepalive_at) || probe(c));
    if (which.index() == 1) {
      if (std::get<1>(which)) {
        co_return false;
      }
      c.probing = false;  // pipelined bytes: stop probing, they wait in the buffer
      co_return true;
    }
    woke = std::get<0>(which);
  } else {
    woke = co_await stream.wake().wait_until(keepalive_at);
  }
  if (!woke && Clock::now() >= keepalive_at) {
    if (!co_await write_chunk(c, ": keep-alive\n\n", chunked)) {
      co_return false;
    }
    s.touch();
  }
  co_return true;
}

}  // namespace mcpgw::downstream
