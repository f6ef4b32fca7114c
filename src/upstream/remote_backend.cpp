#include "upstream/remote_backend.hpp"

#include "common/error.hpp"
#include "common/text.hpp"
#include "upstream/credential.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"
#include "upstream/sse_parser.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

namespace {
constexpr auto kDeleteTimeout = std::chrono::seconds(2);
constexpr auto kTailAfterAnswer = std::chrono::seconds(1);
constexpr int kResumeAttempts = 3;
constexpr auto kCancelGrace = std::chrono::milliseconds(500);
constexpr std::string_view kAcceptBoth = "application/json, text/event-stream";

}  // namespace

RemoteBackend::RemoteBackend(asio::any_io_executor ex, const config::ServerConfig& server,
                             const config::GatewayConfig& gateway, ClientIdentity identity,
                             BackendListener& listener, std::shared_ptr<HttpClient> client)
    : RpcBackend(ex, server, gateway, std::move(identity), listener), client_(std::move(client)) {
  std::string error;
  url_ok_ = parse_url(server.url, url_, error);
  if (!url_ok_) {
    last_error_ = fmt::format("bad url: {}", error);
  }
}

void RemoteBackend::add_headers(http::fields& h) const {
  for (const auto& [name, value] : server_.headers) {
    h.set(name, value);
  }
  if (!identity_.authorization.empty()) {
    h.set(http::field::authorization, identity_.authorization);
  }
  if (!bearer_.empty()) {
    h.set(http::field::authorization, bearer_);
  }
  for (const auto& [name, value] : identity_.headers) {
    h.set(name, value);
  }
}

asio::awaitable<bool> RemoteBackend::refresh_credential(bool renew, std::string& error) {
  if (!identity_.credential) {
    co_return true;
  }
  auto keep = self();
  auto got = co_await identity_.credential->authorization(renew, error);
  // Until the user connects their account, the server is down for them alone.
  waits_for_user_ = !got && !identity_.credential->consent_url().empty();
  if (!got) {
    co_return false;
  }
  bearer_ = std::move(*got);
  co_return true;
}

std::string RemoteBackend::consent_url() const {
  return waits_for_user_ && identity_.credential ? identity_.credential->consent_url()
                                                 : std::string();
}

Clock::duration RemoteBackend::call_timeout() const {
  return server_.options.call_timeout.value_or(gateway_.timeouts.call);
}

void RemoteBackend::deliver_event(const SseEvent& ev) {
  if (ev.type == "message" && !trim(ev.data).empty()) {
    deliver_text(ev.data);
  }
}

bool RemoteBackend::deliver_text(std::string_view text) {
  auto parsed = jsonrpc::parse(text, gateway_.limits.max_json_depth);
  if (!parsed) {
    spdlog::warn("[{}] ignoring a message that is not JSON: {}", server_.name, printable(text));
    fail_unusable(text, fmt::format("not JSON, or nested deeper than limits.maxJsonDepth ({})",
                                    gateway_.limits.max_json_depth));
    return false;
  }
  deliver(std::move(*parsed));
  return true;
}

asio::awaitable<bool> RemoteBackend::read_events(HttpResponse& resp, Clock::time_point& deadline,
                                                 std::string& last_id,
                                                 std::function<bool(SseEvent&&)> on_event) {
  SseParser parser(gateway_.limits.max_message_bytes);
  std::string chunk;
  boost::system::error_code ec;
  bool stop = false;
  for (;;) {
    chunk.clear();
    const bool more = co_await resp.read_some(chunk, deadline, ec);
    if (!more) {
      break;
    }
    const bool ok = parser.feed(chunk, [&](SseEvent&& ev) {
      if (stop) {
        return;
      }
      last_id = ev.id;
      if (!on_event(std::move(ev))) {
        stop = true;
      }
    });
    if (!ok) {
      spdlog::error("[{}] an SSE event exceeds limits.maxMessageBytes ({} bytes)", server_.name,
                    gateway_.limits.max_message_bytes);
      resp.abort();
      co_return false;
    }
    if (stop) {
      co_return true;
    }
  }
  co_return !ec;
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP

void StreamableHttpBackend::request_headers(http::fields& h, const json::object* message) const {
  add_headers(h);
  h.set(http::field::content_type, "application/json");
  h.set(http::field::accept, kAcceptBoth);
  if (!session_id_.empty()) {
    h.set("Mcp-Session-Id", session_id_);
  }
  const bool initialize =
      message != nullptr && jsonrpc::method(*message) == mcp::method::kInitialize;
  if (modern_) {
    // The stateless revision: the body's revision, method and name mirrored in headers.
    h.set("MCP-Protocol-Version", mcp::kModernVersion);
    if (message != nullptr) {
      for (auto& [name, value] : mcp::mirrored_headers(*message)) {
        h.set(name, value);
      }
    }
  } else if (!initialize && !info_.protocol_version.empty()) {
    h.set("MCP-Protocol-Version", info_.protocol_version);
  }
  // What was given with the call: what only the tool's schema says (Mcp-Param-*, 2026-07-28),
  // the trace context (traceparent).
  if (const Call* call = message != nullptr ? pending_call(*message) : nullptr) {
    for (const auto& [name, value] : call->headers) {
      h.set(name, value);
    }
  }
}

void StreamableHttpBackend::broken(std::string reason) {
  if (broken_ && !broken_->is_set()) {
    broken_reason_ = std::move(reason);
    broken_->set();
  }
}

asio::awaitable<bool> StreamableHttpBackend::run_once() {
  auto keep = me();
  set_state(BackendState::starting);
  if (!url_ok_) {
    co_return false;
  }
  session_id_.clear();
  ++generation_;
  broken_ = std::make_shared<Event>(ex_);
  broken_reason_.clear();
  if (!co_await refresh_credential(false, last_error_) || stopping_) {
    co_return false;
  }
  const auto result = co_await handshake(Clock::now() + gateway_.timeouts.startup);
  if (result != Handshake::ok) {
    co_return false;
  }
  spdlog::info("[{}] ready (protocol {}, {}, {})", server_.name, info_.protocol_version,
               url_.origin(), session_id_.empty() ? "stateless" : "session " + session_id_);
  became_ready();
  asio::co_spawn(ex_, [self = me(), gen = generation_]() { return self->listen(gen); },
                 asio::detached);

  co_await serve_until(broken_, broken_reason_);
  ++generation_;
  if (get_stream_) {
    get_stream_->abort();
  }
  fail_outstanding(Errc::upstream_unavailable);
  client_->clear_pool();
  co_return true;
}

void StreamableHttpBackend::transmit(json::object&& message, std::int64_t wire_id) {
  asio::co_spawn(ex_,
                 [self = me(), m = std::move(message), wire_id]() mutable {
                   return self->post(std::move(m), wire_id, false);
                 },
                 asio::detached);
}

void StreamableHttpBackend::abandon(std::int64_t wire_id) {
  if (auto it = cuts_.find(wire_id); it != cuts_.end()) {
    it->second->set();  // still waiting for the head: the send is cut, its connection closed
  }
  if (auto it = replies_.find(wire_id); it != replies_.end()) {
    auto resp = std::move(it->second);
    replies_.erase(it);
    if (stopping_ || modern_) {  // 2026-07-28: closing the stream is the cancel
      resp->abort();
      return;
    }
    // notifications/cancelled is on its way in another POST. A server may tie the request to
    // this stream and forget it when the stream closes; close it a moment later so that the
    // cancellation is seen first (the spec: a disconnect is not a cancellation).
    auto timer = std::make_shared<asio::steady_timer>(ex_, kCancelGrace);
    timer->async_wait([resp, timer](boost::system::error_code) { resp->abort(); });
  }
}

void StreamableHttpBackend::begin_stop() {
  if (broken_) {
    broken_->notify();
  }
  if (listen_wake_) {
    listen_wake_->set();
  }
  if (get_stream_) {
    get_stream_->abort();
  }
}

asio::awaitable<void> StreamableHttpBackend::finish_stop() {
  auto keep = me();
  if (session_id_.empty() || !url_ok_) {
    co_return;
  }
  // The spec's polite end of a session; a server that refuses (405) keeps it until it expires.
  HttpRequest req;
  req.method = http::verb::delete_;
  req.target = url_.target;
  add_headers(req.headers);
  req.headers.set("Mcp-Session-Id", session_id_);
  if (!info_.protocol_version.empty()) {
    req.headers.set("MCP-Protocol-Version", info_.protocol_version);
  }
  session_id_.clear();
  boost::system::error_code ec;
  std::string error;
  bool connect_failed = false;
  auto resp = co_await client_->send(req, Clock::now() + kDeleteTimeout, ec, error, connect_failed);
  if (resp) {
    std::string body;
    co_await resp->read_all(body, 64 * 1024, Clock::now() + kDeleteTimeout, ec);
    spdlog::debug("[{}] DELETE session: HTTP {}", server_.name, resp->status());
  } else {
    spdlog::debug("[{}] DELETE session failed: {}", server_.name, error);
  }
}

asio::awaitable<void> StreamableHttpBackend::post(json::object message, std::int64_t wire_id,
                                                  bool retried) {
  auto keep = me();
  const bool is_init = jsonrpc::method(message) == mcp::method::kInitialize;
  if (reinitializing_ && !is_init) {
    // A new upstream session is being set up: send with it, not with the lost one.
    auto ev = reinit_done_;
    co_await ev->wait_until(Clock::now() + gateway_.timeouts.startup);
  }
  if (wire_id != 0 && !is_pending(wire_id)) {
    co_return;  // cancelled or timed out while waiting
  }
  if (std::string why; !co_await refresh_credential(false, why)) {  // cached while fresh
    lost_credential(wire_id, std::move(why));
    co_return;
  }
  HttpRequest req;
  req.method = http::verb::post;
  req.target = url_.target;
  request_headers(req.headers, &message);
  req.body = jsonrpc::serialize(message);
  const std::string sent_session = session_id_;
  const auto deadline = Clock::now() + (is_init ? Clock::duration(gateway_.timeouts.startup)
                                                : call_timeout());
  boost::system::error_code ec;
  std::string error;
  bool connect_failed = false;
  bool was_cut = false;
  auto resp = co_await send_or_cut(req, deadline, ec, error, connect_failed, wire_id, was_cut);
  if (was_cut) {
    co_return;  // cancelled: the call has ended already
  }
  if (!resp) {
    unreachable(message, wire_id, is_init, error, connect_failed);
    co_return;
  }
  const unsigned status = resp->status();
  if (status == 401 && identity_.credential && !retried) {
    resp.reset();
    co_await renew_and_post(std::move(message), wire_id);
    co_return;
  }
  if (status == 404 && !sent_session.empty() && !is_init) {
    resp.reset();
    bool renewed = false;
    if (!retried && !stopping_) {
      renewed = co_await reinitialize(sent_session);
    }
    if (renewed) {
      co_await post(std::move(message), wire_id, true);
      co_return;
    }
    if (wire_id != 0) {
      fail_call(wire_id, make_error_code(Errc::upstream_unavailable),
                fmt::format("server '{}' lost its session and no new one could be started: {}",
                            server_.name, last_error_));
    }
    co_return;
  }
  if (status == 202 || status == 204) {
    std::string body;
    co_await resp->read_all(body, 64 * 1024, deadline, ec);
    co_return;  // accepted; a request's response then comes on the GET stream
  }
  if (status / 100 == 4 && (is_init || modern_) && wire_id != 0) {
    co_await error_body(*resp, wire_id, is_init, deadline);
    co_return;
  }
  if (status / 100 != 2) {
    co_await refused(*resp, message, wire_id, !is_init);
    co_return;
  }
  if (is_init) {
    session_id_ = std::string(resp->header("Mcp-Session-Id"));
  }
  co_await read_reply(std::move(resp), wire_id);
}

asio::awaitable<void> StreamableHttpBackend::renew_and_post(json::object message,
                                                            std::int64_t wire_id) {
  // The server refused the caller's token (revoked, expired early): a new one, once.
  if (std::string why; !co_await refresh_credential(true, why)) {
    lost_credential(wire_id, std::move(why));
    co_return;
  }
  co_await post(std::move(message), wire_id, true);
}

void StreamableHttpBackend::lost_credential(std::int64_t wire_id, std::string why) {
  if (waits_for_user_) {
    // The user must connect again: this life ends, and the server is down for them (their
    // lists leave it out) until they have.
    last_error_ = why;
    broken(why);
  }
  fail_call(wire_id, make_error_code(Errc::upstream_unavailable), std::move(why));
}

void StreamableHttpBackend::unreachable(const json::object& message, std::int64_t wire_id,
                                        bool is_init, const std::string& error,
                                        bool connect_failed) {
  if (is_init) {
    fail_call(wire_id, make_error_code(Errc::upstream_unavailable), error);
  } else if (wire_id != 0) {
    fail_call(wire_id, make_error_code(Errc::upstream_unavailable),
              fmt::format("server '{}' is unreachable: {}", server_.name, error), connect_failed);
  } else {
    spdlog::warn("[{}] could not deliver {}: {}", server_.name, jsonrpc::method(message), error);
  }
  if (!is_init) {
    if (connect_failed) {
      broken(error);
    } else {
      set_degraded(error);
    }
  }
}

asio::awaitable<HttpResponsePtr> StreamableHttpBackend::send_or_cut(
    const HttpRequest& req, Clock::time_point deadline, boost::system::error_code& ec,
    std::string& error, bool& connect_failed, std::int64_t wire_id, bool& was_cut) {
  if (!modern_ || wire_id == 0) {
    co_return co_await client_->send(req, deadline, ec, error, connect_failed);
  }
  // A request to a server of 2026-07-28 is cancelled by closing its connection: abandon()
  // cuts the send, even before the response's head has come.
  auto cut = std::make_shared<Event>(ex_);
  cuts_[wire_id] = cut;
  using namespace asio::experimental::awaitable_operators;
  auto which = co_await (client_->send(req, deadline, ec, error, connect_failed) ||
                         cut->wait_until(deadline));
  cuts_.erase(wire_id);
  if (which.index() == 0) {
    co_return std::get<0>(std::move(which));
  }
  was_cut = cut->is_set();
  ec = asio::error::operation_aborted;
  error = was_cut ? "cancelled" : "no response in time";
  co_return nullptr;  // the connection closed with the send's coroutine
}

asio::awaitable<void> StreamableHttpBackend::read_reply(HttpResponsePtr resp, std::int64_t wire_id) {
  auto deadline = Clock::now() + call_timeout() + std::chrono::seconds(5);
  if (resp->content_type_is("application/json")) {
    std::string body;
    boost::system::error_code ec;
    const bool complete =
        co_await resp->read_all(body, gateway_.limits.max_message_bytes, deadline, ec);
    if (!complete) {
      fail_call(wire_id, make_error_code(Errc::upstream_closed),
                fmt::format("server '{}': reading the reply failed: {}", server_.name,
                            ec.message()));
      co_return;
    }
    if (!trim(body).empty() && !deliver_text(body)) {
      fail_call(wire_id, make_error_code(Errc::upstream_protocol),
                fmt::format("server '{}' replied with invalid JSON", server_.name));
    }
    co_return;
  }
  if (!resp->content_type_is("text/event-stream")) {
    std::string body;
    boost::system::error_code ec;
    co_await resp->read_all(body, 64 * 1024, deadline, ec);
    if (wire_id != 0) {
      fail_call(wire_id, make_error_code(Errc::upstream_protocol),
                fmt::format("server '{}' replied with Content-Type \"{}\", expected JSON or SSE",
                            server_.name, resp->header(http::field::content_type)));
    }
    co_return;
  }
  std::string last_id;
  co_await follow_reply(std::move(resp), wire_id, deadline, last_id);
  if (wire_id != 0 && is_pending(wire_id) && !stopping_) {
    bool resumed = false;
    if (!last_id.empty()) {
      resumed = co_await resume(wire_id, last_id);
    }
    if (resumed) {
      co_return;
    }
    const auto why = fmt::format("server '{}' closed the reply stream before answering",
                                 server_.name);
    fail_call(wire_id, make_error_code(Errc::upstream_closed), why);
    set_degraded(why);
  }
}

asio::awaitable<bool> StreamableHttpBackend::resume(std::int64_t wire_id, std::string last_id) {
  for (int attempt = 0; attempt < kResumeAttempts && is_pending(wire_id) && !stopping_; ++attempt) {
    boost::system::error_code ec;
    std::string error;
    bool connect_failed = false;
    const auto deadline = Clock::now() + call_timeout();
    auto resp = co_await client_->send(stream_request(last_id), deadline, ec, error,
                                       connect_failed);
    if (!resp || resp->status() != 200 || !resp->content_type_is("text/event-stream")) {
      spdlog::warn("[{}] could not resume the reply stream after event {}: {}", server_.name,
                   last_id, resp ? fmt::format("HTTP {}", resp->status()) : error);
      co_return false;
    }
    spdlog::info("[{}] resumed a broken reply stream after event {}", server_.name, last_id);
    co_await follow_reply(std::move(resp), wire_id, deadline, last_id);
  }
  co_return !is_pending(wire_id);
}

asio::awaitable<void> StreamableHttpBackend::follow_reply(HttpResponsePtr resp,
                                                          std::int64_t wire_id,
                                                          Clock::time_point deadline,
                                                          std::string& last_id) {
  if (wire_id != 0) {
    replies_[wire_id] = resp;  // abandon() closes it
  }
  co_await read_events(*resp, deadline, last_id, [&](SseEvent&& ev) {
    deliver_event(ev);
    if (wire_id != 0 && !is_pending(wire_id)) {
      // Answered: the server ends the stream now; don't wait long for that.
      deadline = std::min(deadline, Clock::now() + kTailAfterAnswer);
    }
    return true;
  });
  if (auto it = replies_.find(wire_id); it != replies_.end() && it->second == resp) {
    replies_.erase(it);
  }
}

asio::awaitable<bool> StreamableHttpBackend::reinitialize(std::string old) {
  auto keep = me();
  if (reinitializing_) {
    auto ev = reinit_done_;
    co_await ev->wait_until(Clock::now() + gateway_.timeouts.startup);
    co_return state_ == BackendState::ready && session_id_ != old;
  }
  if (session_id_ != old) {
    co_return state_ == BackendState::ready;  // someone already started a new one
  }
  reinitializing_ = true;
  reinit_done_ = std::make_shared<Event>(ex_);
  spdlog::warn("[{}] the server no longer knows session {} (HTTP 404); initializing a new one",
               server_.name, old);
  session_id_.clear();
  ++generation_;
  if (get_stream_) {
    get_stream_->abort();
  }
  const auto result = co_await handshake(Clock::now() + gateway_.timeouts.startup);
  reinitializing_ = false;
  auto ev = reinit_done_;
  ev->set();
  if (result != Handshake::ok) {
    broken(fmt::format("the session expired and initializing a new one failed: {}", last_error_));
    co_return false;
  }
  spdlog::info("[{}] new upstream session {}", server_.name, session_id_);
  asio::co_spawn(ex_, [self = me(), gen = generation_]() { return self->listen(gen); },
                 asio::detached);
  co_return true;
}

// ---------------------------------------------------------------------------------------------
// Legacy HTTP+SSE

asio::awaitable<bool> LegacySseBackend::run_once() {
  auto keep = me();
  set_state(BackendState::starting);
  if (!url_ok_ || !co_await refresh_credential(false, last_error_) || stopping_) {
    co_return false;
  }
  const auto deadline = Clock::now() + gateway_.timeouts.startup;
  HttpRequest req;
  req.method = http::verb::get;
  req.target = url_.target;
  add_headers(req.headers);
  req.headers.set(http::field::accept, "text/event-stream");
  boost::system::error_code ec;
  std::string error;
  bool connect_failed = false;
  auto resp = co_await client_->send(req, deadline, ec, error, connect_failed);
  if (!resp) {
    last_error_ = error;
    co_return false;
  }
  if (resp->status() != 200) {
    last_error_ = co_await describe_status(*resp, fmt::format("GET {}", url_.display()));
    co_return false;
  }
  if (!resp->content_type_is("text/event-stream")) {
    last_error_ = fmt::format("GET {} answered with Content-Type \"{}\", not text/event-stream "
                              "(is this a Streamable HTTP server? use \"type\": \"http\")",
                              url_.display(), resp->header(http::field::content_type));
    co_return false;
  }
  stream_ = resp;
  auto endpoint = std::make_shared<Event>(ex_);
  auto ended = std::make_shared<Event>(ex_);
  ended_ = ended;
  endpoint_error_.clear();
  ended_reason_.clear();
  asio::co_spawn(ex_, [self = me(), resp, endpoint, ended]() {
    return self->read_stream(resp, endpoint, ended);
  }, asio::detached);

  bool ok = false;
  co_await endpoint->wait_until(deadline);
  Handshake hs = Handshake::refused;
  if (endpoint->is_set() && endpoint_error_.empty()) {
    hs = co_await handshake(deadline);
  }
  if (!endpoint->is_set()) {
    last_error_ = ended->is_set() ? ended_reason_
                                  : fmt::format("no endpoint event on the SSE stream within {} ms",
                                                gateway_.timeouts.startup.count());
  } else if (!endpoint_error_.empty()) {
    last_error_ = endpoint_error_;
  } else if (hs == Handshake::ok) {
    ok = true;
    spdlog::info("[{}] ready (protocol {}, {} via SSE)", server_.name, info_.protocol_version,
                 url_.origin());
    became_ready();
    co_await serve_until(ended, ended_reason_);
  }
  resp->abort();
  stream_.reset();
  fail_outstanding(Errc::upstream_closed);
  co_return ok;
}

asio::awaitable<void> LegacySseBackend::read_stream(HttpResponsePtr resp,
                                                    std::shared_ptr<Event> endpoint,
                                                    std::shared_ptr<Event> ended) {
  auto keep = me();
  std::string last_id;
  auto forever = Clock::time_point::max();
  const bool clean = co_await read_events(*resp, forever, last_id, [&](SseEvent&& ev) {
    if (ev.type == "endpoint") {
      std::string error;
      Url target;
      if (!resolve_url(url_, trim(ev.data), target, error)) {
        endpoint_error_ = fmt::format("bad endpoint event: {}", error);
      } else if (target.origin() != url_.origin()) {
        // The stream must not send our messages (and headers) to somewhere else.
        endpoint_error_ = fmt::format("the endpoint {} is on another origin than {}",
                                      target.origin(), url_.origin());
      } else {
        endpoint_ = std::move(target);
      }
      endpoint->set();
    } else {
      deliver_event(ev);
    }
    return true;
  });
  ended_reason_ = clean ? "the server closed its SSE stream" : "the SSE stream broke";
  ended->set();
  endpoint->notify();
}

void LegacySseBackend::transmit(json::object&& message, std::int64_t wire_id) {
  asio::co_spawn(ex_,
                 [self = me(), m = std::move(message), wire_id]() mutable {
                   return self->post(std::move(m), wire_id);
                 },
                 asio::detached);
}

void LegacySseBackend::begin_stop() {
  if (ended_) {
    ended_->notify();
  }
  if (stream_) {
    stream_->abort();
  }
}

asio::awaitable<void> LegacySseBackend::post(json::object message, std::int64_t wire_id) {
  auto keep = me();
  HttpRequest req;
  req.method = http::verb::post;
  req.target = endpoint_.target;
  add_headers(req.headers);
  req.headers.set(http::field::content_type, "application/json");
  req.body = jsonrpc::serialize(message);
  const auto deadline = Clock::now() + call_timeout();
  boost::system::error_code ec;
  std::string error;
  bool connect_failed = false;
  auto resp = co_await client_->send(req, deadline, ec, error, connect_failed);
  if (!resp) {
    fail_call(wire_id, make_error_code(Errc::upstream_unavailable),
              fmt::format("server '{}' is unreachable: {}", server_.name, error),
              connect_failed);
    set_degraded(error);
    co_return;
  }
  if (resp->status() / 100 == 2) {
    std::string body;  // "Accepted"; the reply comes on the stream
    co_await resp->read_all(body, 64 * 1024, deadline, ec);
    co_return;
  }
  co_await refused(*resp, message, wire_id, true);
}

}  // namespace mcpgw::upstream
