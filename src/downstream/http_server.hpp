#pragma once
// The one listener every client connects to: Streamable HTTP (/mcp, /mcp/{server}), legacy
// HTTP+SSE (/sse, /sse/{server}, /message), and /healthz.
#include "access/authenticator.hpp"
#include "config/config.hpp"
#include "relay/relay.hpp"

#include <boost/asio/io_context.hpp>

#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <string>

namespace mcpgw::downstream {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, relay::Relay& relay, const config::Config& cfg,
             access::Authenticator& auth);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds the listening socket. False with `error` set if it cannot.
  bool listen(const std::string& host, std::uint16_t port, std::string& error);
  /// The bound port (useful with port 0).
  std::uint16_t port() const noexcept;
  /// Binds a second socket that serves GET /metrics alone (gateway.metrics.listen).
  bool listen_metrics(const std::string& host, std::uint16_t port, std::string& error);
  /// Its bound port; 0 without one.
  std::uint16_t metrics_port() const noexcept;
  /// Starts accepting connections.
  void start();
  /// Reloads the configuration (`why` says who asked) and answers how it went: {"ok": true,
  /// …} or {"ok": false, "error": …}.
  using Reload = std::function<boost::json::object(std::string_view why)>;
  /// What POST /admin/reload runs (with the admin token).
  void set_reload(Reload reload);
  /// The configuration changed in place (a reload): settings derived from it are made again.
  void reconfigured();
  /// The authenticator took new settings (a reload): its JWKS fetcher is made again.
  void auth_changed();
  /// Stops accepting; waits (bounded) for in-flight requests; then closes every connection.
  boost::asio::awaitable<void> shutdown(std::chrono::milliseconds drain);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mcpgw::downstream
