#pragma once
// MCP servers reached over the network: Streamable HTTP (`"type": "http"`) and the legacy
// HTTP+SSE transport (`"type": "sse"`), plain or over TLS.
#include "upstream/http_client.hpp"
#include "upstream/rpc_backend.hpp"
#include "upstream/sse_parser.hpp"

#include <functional>
#include <optional>
#include <unordered_map>

namespace mcpgw::upstream {

/// The start of a body, on one line, fit for a log or an error message.
std::string printable(std::string_view s);

/// What both remote transports share: the HTTP client, the configured headers, reading SSE.
class RemoteBackend : public RpcBackend {
 public:
  RemoteBackend(asio::any_io_executor ex, const config::ServerConfig& server,
                const config::GatewayConfig& gateway, ClientIdentity identity,
                BackendListener& listener, std::shared_ptr<HttpClient> client);

  std::string consent_url() const override;

 protected:
  /// The configured headers (and the client's Authorization where configured, or the
  /// caller's credential's).
  void add_headers(http::fields& h) const;
  /// Gets the caller's credential into bearer_ (a new one when `renew`). True without a
  /// credential; false with `error` when none can be had.
  asio::awaitable<bool> refresh_credential(bool renew, std::string& error);
  Clock::duration call_timeout() const;
  /// Reads an SSE body, passing each event to `on_event(SseEvent&&)` (which returns false to
  /// stop reading). Returns false if the stream broke (error or limit) rather than ended.
  asio::awaitable<bool> read_events(HttpResponse& resp, Clock::time_point& deadline,
                                    std::string& last_id,
                                    std::function<bool(SseEvent&&)> on_event);
  /// Parses one message from the server and delivers it; false if it was not JSON.
  bool deliver_text(std::string_view text);
  /// Delivers a `message` event's data (other event types and empty data are skipped).
  void deliver_event(const SseEvent& ev);
  /// Reads a short error body for a message ("HTTP 500: boom").
  asio::awaitable<std::string> describe_status(HttpResponse& resp, std::string_view what);
  /// The server answered `message` with an HTTP error: the call fails with the status and the
  /// start of the body (or, for a notification, it is logged); `degrade` marks the server.
  asio::awaitable<void> refused(HttpResponse& resp, const json::object& message,
                                std::int64_t wire_id, bool degrade);

  std::shared_ptr<HttpClient> client_;
  Url url_;
  bool url_ok_ = false;
  std::string bearer_;  ///< the caller's credential's Authorization, when there is one
};

/**
 * A Streamable HTTP server. Each message is a POST; the reply is JSON or an SSE stream that
 * may carry progress and server→client requests before the response. The upstream session
 * (Mcp-Session-Id) lives as long as this backend; a server that answers 404 for it has lost
 * it: the backend initializes again and retries the request once. A GET stream carries what
 * the server sends on its own, where the server offers one. A reply stream that breaks before
 * the response is resumed with Last-Event-ID when the server numbered its events.
 */
class StreamableHttpBackend final : public RemoteBackend {
 public:
  using RemoteBackend::RemoteBackend;

 private:
  asio::awaitable<bool> run_once() override;
  void transmit(json::object&& message, std::int64_t wire_id) override;
  void abandon(std::int64_t wire_id) override;
  void relisten() override;
  void begin_stop() override;
  asio::awaitable<void> finish_stop() override;

  asio::awaitable<void> post(json::object message, std::int64_t wire_id, bool retried);
  /// `message` was refused with 401: the caller's credential is renewed and it is sent once
  /// more (or its call fails with why no credential could be had).
  asio::awaitable<void> renew_and_post(json::object message, std::int64_t wire_id);
  /// No credential could be had for `wire_id`'s request: it fails with `why`; when the user
  /// must connect their account, the upstream session ends too.
  void lost_credential(std::int64_t wire_id, std::string why);
  /// Reads one POST's reply (JSON or SSE), resuming a broken stream where it can.
  asio::awaitable<void> read_reply(HttpResponsePtr resp, std::int64_t wire_id);
  /// Resumes a broken reply stream from `last_id`, until the call is answered.
  asio::awaitable<bool> resume(std::int64_t wire_id, std::string last_id);
  /// Relays an SSE reply stream (the POST's, or its resumption) until it ends; `last_id`
  /// follows the events.
  asio::awaitable<void> follow_reply(HttpResponsePtr resp, std::int64_t wire_id,
                                     Clock::time_point deadline, std::string& last_id);
  /// GET for a stream: the session's, or a reply's resumption after `last_id`.
  HttpRequest stream_request(std::string_view last_id) const;
  /// The upstream session `old` is gone: starts a new one (once, however many noticed).
  asio::awaitable<bool> reinitialize(std::string old);
  asio::awaitable<void> listen(std::uint64_t generation);
  /// The headers of a POST of `message` (null: the GET stream).
  void request_headers(http::fields& h, const json::object* message) const;
  /// client_->send; for a request to a server of 2026-07-28, cut short by abandon() (then
  /// null, `was_cut`, and the connection is closed: the revision's cancel).
  asio::awaitable<HttpResponsePtr> send_or_cut(const HttpRequest& req, Clock::time_point deadline,
                                               boost::system::error_code& ec, std::string& error,
                                               bool& connect_failed, std::int64_t wire_id,
                                               bool& was_cut);
  /// A POST that reached no response: its call fails, the server is marked.
  void unreachable(const json::object& message, std::int64_t wire_id, bool is_init,
                   const std::string& error, bool connect_failed);
  /// The request that opens the stream of what the server sends on its own: the GET stream,
  /// or subscriptions/listen for a server of 2026-07-28 (nullopt: it has nothing to send).
  std::optional<HttpRequest> listen_http_request(std::string_view last_id) const;
  /// A request answered 4xx: a JSON-RPC error for it from a server of 2026-07-28 (or an
  /// initialize refused for that revision alone) is delivered as its response; else the call
  /// fails with the status and body.
  asio::awaitable<void> error_body(HttpResponse& resp, std::int64_t wire_id, bool is_init,
                                   Clock::time_point deadline);
  /// The server cannot be reached: end this life of the backend (the supervisor reconnects).
  void broken(std::string reason);
  std::shared_ptr<StreamableHttpBackend> me() {
    return std::static_pointer_cast<StreamableHttpBackend>(self());
  }

  std::string session_id_;
  std::uint64_t generation_ = 0;  ///< bumped per upstream session: old GET streams end
  bool reinitializing_ = false;
  std::shared_ptr<Event> reinit_done_;
  std::string broken_reason_;
  std::shared_ptr<Event> broken_;
  std::unordered_map<std::int64_t, HttpResponsePtr> replies_;  ///< reply streams by call
  HttpResponsePtr get_stream_;
  std::shared_ptr<Event> listen_wake_;  ///< ends the GET stream's retry wait (stop)
  bool listen_running_ = false;          ///< the GET stream's (or listen's) loop runs
  /// Requests to a server of 2026-07-28 still waiting for their response's head, by wire id:
  /// setting the event cuts the send (the revision's cancel).
  std::unordered_map<std::int64_t, std::shared_ptr<Event>> cuts_;
};

/**
 * A legacy HTTP+SSE server (protocol 2024-11-05): a GET opens the event stream, whose first
 * event names the endpoint to POST messages to; every reply arrives on the stream. When the
 * stream drops, so does the server's session: outstanding calls fail and the backend connects
 * and initializes again, with backoff.
 */
class LegacySseBackend final : public RemoteBackend {
 public:
  using RemoteBackend::RemoteBackend;

 private:
  asio::awaitable<bool> run_once() override;
  void transmit(json::object&& message, std::int64_t wire_id) override;
  void begin_stop() override;

  asio::awaitable<void> read_stream(HttpResponsePtr resp, std::shared_ptr<Event> endpoint,
                                    std::shared_ptr<Event> ended);
  asio::awaitable<void> post(json::object message, std::int64_t wire_id);
  std::shared_ptr<LegacySseBackend> me() {
    return std::static_pointer_cast<LegacySseBackend>(self());
  }

  Url endpoint_;
  std::string endpoint_error_;
  std::string ended_reason_;
  HttpResponsePtr stream_;
  std::shared_ptr<Event> ended_;
};

}  // namespace mcpgw::upstream
