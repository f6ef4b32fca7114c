#pragma once
// One MCP server as the relay sees it, however it is reached. The relay never names a concrete
// transport: stdio today, Streamable HTTP and legacy SSE behind the same interface.
#include "common/event.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mcpgw::upstream {

namespace json = boost::json;

enum class BackendState {
  starting,    ///< spawning / connecting / initialize handshake
  ready,       ///< serving requests
  restarting,  ///< died; waiting out its backoff before the next start
  stopped,     ///< stopped on purpose (shutdown, session end)
};
const char* to_string(BackendState s) noexcept;

/// What the server said about itself in its initialize result.
struct InitInfo {
  std::string protocol_version;
  json::object capabilities;
  json::object server_info;
  std::string instructions;
};

/// One request sent to a server. Completed exactly once: with `response` (the server's
/// response, id already restored by the relay), or with `ec` (closed, timeout, cancelled).
struct Call {
  explicit Call(asio::any_io_executor ex) : done(std::move(ex)) {}
  std::int64_t wire_id = 0;
  std::optional<json::object> response;
  boost::system::error_code ec;
  std::string detail;  ///< human-readable reason for `ec`
  /// It failed before any of it reached the server (nothing could be connected to): sending
  /// it again cannot run it twice.
  bool unsent = false;
  /// Headers of this request beyond the transport's own (2026-07-28 Mcp-Param-*: what only
  /// the tool's schema says); transports without headers ignore them.
  std::vector<std::pair<std::string, std::string>> headers;
  Event done;
};
using CallPtr = std::shared_ptr<Call>;

class Backend;

/// Receives what a server sends on its own: notifications and server→client requests.
class BackendListener {
 public:
  virtual ~BackendListener() = default;
  virtual void on_backend_message(Backend& backend, json::object&& msg) = 0;
  virtual void on_backend_state(Backend& backend, BackendState state) = 0;
};

/**
 * A live connection to one MCP server. Not thread-safe: used only from the gateway's event loop.
 * The backend performs the initialize handshake itself and restarts after a crash.
 */
class Backend {
 public:
  virtual ~Backend() = default;

  virtual const std::string& name() const noexcept = 0;
  virtual BackendState state() const noexcept = 0;
  /// Valid once the backend has been ready.
  virtual const InitInfo& info() const noexcept = 0;
  /// Why it is not ready (last spawn/handshake error, exit status), or empty.
  virtual const std::string& last_error() const noexcept = 0;
  /// Why requests fail although it is ready (HTTP 500s, timeouts), or empty.
  virtual const std::string& degraded() const noexcept = 0;
  /// OS process id for process backends (0 otherwise or when not running).
  virtual long pid() const noexcept { return 0; }
  virtual unsigned restarts() const noexcept { return 0; }
  /// Failed starts in a row (0 once it has been ready); the relay fails fast when high.
  virtual unsigned consecutive_failures() const noexcept { return 0; }
  virtual std::size_t in_flight() const noexcept = 0;
  /// Its last start lacked something only the caller can give: a value in their vault
  /// (`mcpgw secrets set`), or their account connected (consent_url()).
  virtual bool waits_for_user() const noexcept { return false; }
  /// Who its requests act as upstream when that is the caller's own identity (for the audit
  /// trail: "own OAuth token of alice", "token exchange at …", "vault values of alice"); empty
  /// for the gateway's configured one.
  virtual std::string upstream_identity() const { return {}; }
  /// Where the caller connects their account when that is what it waits for (else empty).
  virtual std::string consent_url() const { return {}; }
  /// Tries to start again now rather than after its backoff (the caller may have set what it
  /// lacked). No-op unless it is restarting.
  virtual void retry_now() {}
  /// Down: not ready, and its last attempt to come up failed (a server that just crashed and
  /// is restarting is not down yet). Nobody waits for a down server.
  bool down() const noexcept {
    return state() == BackendState::restarting && consecutive_failures() >= 1;
  }

  /// Begins connecting (and reconnecting after failures) in the background.
  virtual void start() = 0;
  /// Stops for good; outstanding calls complete with Errc::shutting_down.
  virtual asio::awaitable<void> stop() = 0;
  /// Waits until ready; false at the deadline or once stopped.
  virtual asio::awaitable<bool> wait_ready(Clock::time_point deadline) = 0;

  /// Sends a request. Its id is replaced by a backend-unique wire id (the caller keeps the
  /// original). If the backend is not ready the call completes at once with an error.
  virtual CallPtr send_request(json::object&& request,
                               std::vector<std::pair<std::string, std::string>> headers) = 0;
  CallPtr send_request(json::object&& request) { return send_request(std::move(request), {}); }
  /// Gives up on a call: completes it with `ec` and tells the server (notifications/cancelled).
  virtual void cancel(Call& call, boost::system::error_code ec, std::string_view reason) = 0;
  /// Sends a notification, or a response to a server→client request. Dropped if not ready.
  virtual void send(json::object&& message) = 0;
  /// A server of 2026-07-28 has no resources/subscribe: the resources to hear about go in the
  /// `resourceSubscriptions` of the gateway's listen at it, which is opened again with `uris`.
  /// False for a server of an older revision (it takes resources/subscribe itself).
  virtual bool listen_for_resources(std::set<std::string> /*uris*/) { return false; }
};

using BackendPtr = std::shared_ptr<Backend>;

}  // namespace mcpgw::upstream
