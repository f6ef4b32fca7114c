#pragma once
// Probing the remote servers that connect per session (isolation "session", the default for
// remote servers): nobody connects to them until a client comes, so now and then one backend
// of each connects, initializes and stops, and /readyz and /healthz know whether the server
// answers before any client asks. A server that gets each user's own credential
// (forwardAuthorization, passHeaders, auth: oauth or tokenExchange) is not probed: without a user, its answer would say
// nothing about it. Nor are stdio servers: a probe would be a process spawned for nothing.
#include "config/config.hpp"
#include "upstream/backend.hpp"
#include "upstream/rpc_backend.hpp"

#include <boost/asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>

namespace mcpgw::upstream {

class ServerPool;

class Probes final : public BackendListener, public std::enable_shared_from_this<Probes> {
 public:
  struct Result {
    bool ok = false;
    std::string reason;      ///< why not, as the backend said
    Clock::time_point at{};  ///< when the last probe ended
  };

  Probes(asio::any_io_executor ex, ServerPool& pool, const config::Config& cfg,
         ClientIdentity identity);

  /// Whether `server` is probed (with probing on).
  static bool probed(const config::ServerConfig& server);
  /// Starts one loop per probed server: a probe at once, then every probeIntervalMs.
  void start();
  /// Ends the loops and stops the backends of probes under way.
  asio::awaitable<void> stop();
  /// The last probe's result, or null before the first one ended.
  const Result* result(std::string_view server) const;

  void on_backend_message(Backend&, json::object&&) override {}
  void on_backend_state(Backend&, BackendState) override {}

 private:
  /// `server`: a copy, as the loop may outlive the configuration it came from (a reload).
  asio::awaitable<void> run(config::ServerConfig server);
  asio::awaitable<void> probe_once(const config::ServerConfig& server);

  asio::any_io_executor ex_;
  ServerPool& pool_;
  const config::Config& cfg_;
  ClientIdentity identity_;
  bool stopping_ = false;
  std::set<asio::steady_timer*> timers_;  ///< the loops' waits, cancelled by stop()
  std::set<BackendPtr> live_;             ///< backends of probes under way
  std::map<std::string, Result, std::less<>> results_;
};

}  // namespace mcpgw::upstream
