#pragma once
// The servers behind the gateway, as transports: the pool makes each server's backends (stdio,
// Streamable HTTP or legacy SSE, or whatever an injected factory makes), keeps one HTTP
// connection pool (and TLS context) per remote server for all its backends, and remembers each
// server's latest state. The relay above it sees `Backend` only.
#include "common/clock.hpp"
#include "config/config.hpp"
#include "upstream/backend.hpp"
#include "upstream/rpc_backend.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace mcpgw::upstream {

class Credential;
class HttpClient;
class TokenExchanger;
class OAuthClient;

/// What a server's URL looks like where people read it (health, logs): no userinfo and no
/// query, either of which may hold secrets.
std::string display_url(const std::string& url);

class ServerPool {
 public:
  /// Makes one backend of a server that reports to `listener`.
  using Factory =
      std::function<BackendPtr(const config::ServerConfig&, ClientIdentity, BackendListener&)>;

  ServerPool(asio::any_io_executor ex, const config::Config& cfg);
  ~ServerPool();
  ServerPool(const ServerPool&) = delete;
  ServerPool& operator=(const ServerPool&) = delete;

  /// Replaces how backends are made (tests give fakes); the default picks the transport from
  /// the server's config.
  void set_factory(Factory f) { factory_ = std::move(f); }

  /// A new, not yet started backend of `server`.
  BackendPtr make(const config::ServerConfig& server, ClientIdentity identity,
                  BackendListener& listener);

  /// A server's latest state and reason, whichever of its backends reported it.
  struct Status {
    BackendState state = BackendState::stopped;
    std::string reason;
    Clock::time_point since{};
  };
  /// Records what a backend of `server` reported (a stop on purpose is not news).
  void record(const std::string& server, BackendState state, const std::string& reason);
  /// Null until a backend of the server reported.
  const Status* status(std::string_view server) const;
  /// Forgets a server a reload removed or changed: its connection pool, its exchanged
  /// tokens and its state.
  void forget(std::string_view server);

  /// What gets one caller's Authorization toward `server` (gateway.servers.NAME.auth): null
  /// when it has none. `caller_token` holds the caller's latest access token (empty: none).
  /// `principal`: who the caller is (their own OAuth tokens are theirs).
  std::shared_ptr<Credential> credential(const config::ServerConfig& server,
                                         std::shared_ptr<const std::string> caller_token,
                                         const std::string& principal);
  /// The OAuth client of a server with auth "oauth" (null for any other server).
  std::shared_ptr<OAuthClient> oauth(const config::ServerConfig& server);
  /// Where the users' OAuth tokens are kept, and the gateway's URL for their browsers.
  void set_vault(std::shared_ptr<access::VaultReader> vault) { vault_ = std::move(vault); }
  void set_public_url(std::string url) { public_url_ = std::move(url); }
  const std::string& public_url() const noexcept { return public_url_; }

 private:
  std::shared_ptr<HttpClient> http_client(const config::ServerConfig& server);

  asio::any_io_executor ex_;
  const config::Config& cfg_;
  Factory factory_;
  std::map<std::string, std::shared_ptr<HttpClient>, std::less<>> http_clients_;
  std::map<std::string, std::shared_ptr<TokenExchanger>, std::less<>> exchangers_;
  std::map<std::string, std::shared_ptr<OAuthClient>, std::less<>> oauth_;
  std::shared_ptr<access::VaultReader> vault_;
  std::string public_url_;
  std::map<std::string, Status, std::less<>> status_;
};

}  // namespace mcpgw::upstream
