#pragma once
// Reloading the configuration while serving: SIGHUP, gateway.watch (the file changed) and
// POST /admin/reload all read the file again. A file that does not parse, whose security
// settings are wrong, or whose key store or JWKS file cannot be used, is refused (logged, the
// running configuration kept). Otherwise, for the next request: servers are added, removed,
// restarted or relabelled (Relay::reconfigure); authentication (mode, key store, JWT), limits,
// timeouts, allowed hosts and origins, health probing, the security gate's filters and
// settings, the log level and access lines take effect. Settings that need a restart keep
// their running values, each named in a warning: the listeners, metrics, tracing, the name
// separator, the log format, the audit trail (but arguments), limits.memoryBudgetBytes and
// gateway.watch.
#include "access/authenticator.hpp"
#include "config/config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::downstream {
class HttpServer;
}
namespace mcpgw::gate {
class Gate;
}
namespace mcpgw::relay {
class Relay;
}

namespace mcpgw::app {

/// Reads the configuration again (with the command line's overrides); nullopt with `error`
/// (every problem, one per line) when it cannot.
using ConfigSource = std::function<std::optional<config::Config>(std::string& error)>;

class Reloader {
 public:
  /// `live`: the configuration everything serves from, changed in place. `gate`: the security
  /// gate (null when off); a reload may make or drop it.
  /// `stopping`: set once the gateway drains (a reload is refused from then on).
  Reloader(config::Config& live, ConfigSource source, relay::Relay& relay,
           access::Authenticator& auth, downstream::HttpServer& http,
           std::unique_ptr<gate::Gate>& gate, const bool& stopping,
           boost::asio::any_io_executor ex);
  ~Reloader();

  /// Reads and applies the configuration; `why` (SIGHUP, admin API, file changed) is logged.
  /// Returns {"ok": true, "servers": {"added": […], …}, "needsRestart": […]} or {"ok": false,
  /// "error": "…"}.
  boost::json::object reload(std::string_view why);

  /// gateway.watch: reloads when the file at `path` is written or replaced (inotify on its
  /// directory, so editors that save by renaming are seen). False with `error` if it cannot.
  bool watch(const std::string& path, std::string& error);

 private:
  boost::json::object refuse(std::string_view why, const std::string& error);
  /// When gateway.auth changed: its key store opened and JWKS file read into `out`, before
  /// anything changes. False with `error` when they cannot be used, or when a gateway that
  /// listens beyond loopback would be left without an explicit auth mode.
  bool prepare_auth(const config::GatewayConfig& next,
                    std::optional<access::Authenticator::Prepared>& out, std::string& error);
  /// Brings the security gate to the new settings (made, reconfigured or dropped). False
  /// with `error` (nothing changed) when they are wrong.
  bool apply_gate(const config::Config& next, std::string& error);
  /// Takes the reloadable gateway settings of `next` into the live ones.
  void take_settings(config::GatewayConfig& next);
  boost::asio::awaitable<void> watch_loop(std::string name);

  config::Config& live_;
  ConfigSource source_;
  relay::Relay& relay_;
  access::Authenticator& auth_;
  downstream::HttpServer& http_;
  std::unique_ptr<gate::Gate>& gate_;
  const bool& stopping_;
  /// Gates a reload replaced or turned off: sessions' calls in flight may still be in them.
  std::vector<std::unique_ptr<gate::Gate>> retired_gates_;
  boost::asio::any_io_executor ex_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> inotify_;
};

/// Whether the audit trail is on: as gateway.audit.enabled says, else whenever auth is.
bool audit_on(const config::GatewayConfig& g);
/// gateway.cluster.replica, else the host name.
std::string replica_name(const config::ClusterConfig& c);

/// The gateway settings of `next` that differ from `live` and need a restart (their names as
/// in the file).
/// gateway.cluster: reads the session key file and gives the relay its key ring and this
/// replica's name (the host name unless named); no cluster: random session ids. False (with
/// `error`) when the key file cannot be read.
/// `live`: the cluster settings a reload replaces (null at start); Redis is connected again
/// only when its settings changed.
bool apply_cluster(const config::GatewayConfig& g, relay::Relay& relay, std::string& error,
                   const config::ClusterConfig* live = nullptr);

std::vector<std::string> restart_only_changes(const config::GatewayConfig& live,
                                              const config::GatewayConfig& next);

}  // namespace mcpgw::app
