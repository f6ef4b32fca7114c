#include "app/reload.hpp"
#include "gate/flow.hpp"

#include "relay/shared_rates.hpp"

#include "access/authenticator.hpp"
#include "common/log.hpp"
#include "downstream/http_server.hpp"
#include "gate/chain.hpp"
#include "relay/relay.hpp"
#include "upstream/redis.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <array>

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace mcpgw::app {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

/// Whether the inotify events in `buf` (`n` bytes) name the file `name`. (Not in a coroutine:
/// an inotify_event ends in a flexible array, which a coroutine frame cannot hold.)
bool names_file(const char* buf, std::size_t n, std::string_view name) {
  for (std::size_t at = 0; at + sizeof(inotify_event) <= n;) {
    inotify_event ev{};
    std::memcpy(&ev, buf + at, sizeof ev);  // `buf` need not be aligned
    const char* file = buf + at + sizeof ev;
    if (ev.len > 0 && at + sizeof ev + ev.len <= n &&
        name == std::string_view(file, ::strnlen(file, ev.len))) {
      return true;
    }
    at += sizeof ev + ev.len;
  }
  return false;
}

}  // namespace

std::string replica_name(const config::ClusterConfig& c) {
  if (!c.replica.empty()) {
    return c.replica;
  }
  std::array<char, 256> host{};
  return ::gethostname(host.data(), host.size() - 1) == 0 ? host.data() : "unnamed";
}

bool audit_on(const config::GatewayConfig& g) {
  return g.audit.enabled.value_or(g.auth.mode != "none");
}

std::vector<std::string> restart_only_changes(const config::GatewayConfig& live,
                                              const config::GatewayConfig& next) {
  std::vector<std::string> out;
  auto check = [&](bool same, const char* name) {
    if (!same) {
      out.emplace_back(name);
    }
  };
  check(live.listen_host == next.listen_host && live.listen_port == next.listen_port, "listen");
  check(live.metrics == next.metrics, "metrics");
  check(live.tracing == next.tracing, "tracing");
  check(live.separator == next.separator, "separator");
  check(live.log_format == next.log_format, "logFormat");
  config::AuditConfig audit = next.audit;
  audit.arguments = live.audit.arguments;  // read for each call: it reloads
  // The trail is on by default whenever auth is: a new auth mode may turn it on or off.
  check(live.audit == audit && audit_on(live) == audit_on(next), "audit");
  check(live.limits.memory_budget_bytes == next.limits.memory_budget_bytes,
        "limits.memoryBudgetBytes");
  check(live.watch == next.watch, "watch");
  check(live.public_url == next.public_url, "publicUrl");
  return out;
}

Reloader::Reloader(config::Config& live, ConfigSource source, relay::Relay& relay,
                   access::Authenticator& auth, downstream::HttpServer& http,
                   std::unique_ptr<gate::Gate>& gate, const bool& stopping,
                   asio::any_io_executor ex)
    : live_(live), source_(std::move(source)), relay_(relay), auth_(auth), http_(http),
      gate_(gate), stopping_(stopping), ex_(std::move(ex)) {}

Reloader::~Reloader() = default;

json::object Reloader::refuse(std::string_view why, const std::string& error) {
  spdlog::error("reload ({}) refused, still serving the configuration it had: {}", why, error);
  json::object out;
  out["ok"] = false;
  out["error"] = error;
  return out;
}

bool Reloader::prepare_auth(const config::GatewayConfig& next,
                            std::optional<access::Authenticator::Prepared>& out,
                            std::string& error) {
  if (!config::is_loopback_host(live_.gateway.listen_host) && !next.auth.mode_set) {
    error = fmt::format("listening on {} needs an explicit gateway.auth.mode",
                        live_.gateway.listen_host);
    return false;
  }
  if (live_.gateway.auth == next.auth) {
    return true;
  }
  out = access::Authenticator::prepare(next.auth, error, ex_);
  if (!out) {
    error = "gateway.auth: " + error;
    return false;
  }
  return true;
}

bool Reloader::apply_gate(const config::Config& next, std::string& error) {
  config::Diagnostics diag;
  if (!next.gateway.security.enabled) {
    if (gate_) {
      spdlog::warn("reload: the configuration has no gateway.security: the security gate is "
                   "off from the next request");
      relay_.set_gate(nullptr);
      retired_gates_.push_back(std::move(gate_));
    }
    return true;
  }
  if (gate_) {
    if (gate_->reconfigure(next, diag)) {
      return true;
    }
  } else if (auto made = gate::Gate::create(next, ex_, diag)) {
    gate_ = std::move(made);
    relay_.set_gate(gate_.get());
    const std::string why = config::security_reason(next.gateway.security);
    spdlog::info("reload: security gate on: {}{}", gate_->filter_names(),
                 why.empty() ? "" : "; " + why);
    return true;
  }
  error = fmt::format("{}", fmt::join(diag.errors, "\n"));
  return false;
}

void Reloader::take_settings(config::GatewayConfig& next) {
  // Assigned one by one: what needs a restart is never touched (a coroutine may hold a view
  // of it).
  auto& g = live_.gateway;
  g.allowed_hosts = std::move(next.allowed_hosts);
  g.allowed_origins = std::move(next.allowed_origins);
  const auto budget = g.limits.memory_budget_bytes;
  g.limits = next.limits;
  g.limits.memory_budget_bytes = budget;
  g.timeouts = next.timeouts;
  g.security = std::move(next.security);
  g.health = next.health;
  g.audit.arguments = next.audit.arguments;
  g.log_level = std::move(next.log_level);
  g.access_log = next.access_log;
  spdlog::set_level(spdlog::level::from_str(g.log_level));
  log::set_access_log(g.access_log);
  auth_.set_failure_limit(g.limits.auth_failures_per_min);
  http_.reconfigured();
}

/// gateway.cluster.redis: what the replicas' security gates share (nulls when not configured).
struct SharedState {
  std::shared_ptr<gate::SharedScopes> scopes;
  std::shared_ptr<gate::SharedApprovals> approvals;
  std::shared_ptr<upstream::Redis> redis;
  std::shared_ptr<relay::SharedRates> rates;
};

bool shared_state(const config::ClusterConfig& c, const std::string& replica,
                  asio::any_io_executor ex, SharedState& out, std::string& error) {
  out = {};
  if (c.redis.empty()) {
    return true;
  }
  auto options = upstream::parse_redis_url(c.redis, error);
  if (!options) {
    error = "gateway.cluster.redis: " + error;
    return false;
  }
  options->timeout = c.redis_timeout;
  spdlog::info("cluster: taint scopes, approvals and rate limits shared through redis {}:{} "
               "(db {}); when it is down: {}", options->host, options->port, options->db,
               c.redis_down_local ? "this replica's own state"
                                   : "gated calls and rate-limited keys are refused");
  auto redis = upstream::Redis::create(std::move(ex), std::move(*options));
  out.scopes = std::make_shared<gate::SharedScopes>(
      redis, c.redis_down_local ? gate::SharedScopes::WhenDown::local
                                : gate::SharedScopes::WhenDown::refuse);
  out.approvals = std::make_shared<gate::SharedApprovals>(redis, replica);
  out.rates = std::make_shared<relay::SharedRates>(redis, c.redis_down_local);
  out.redis = std::move(redis);
  return true;
}

bool apply_cluster(const config::GatewayConfig& g, relay::Relay& relay, std::string& error,
                   const config::ClusterConfig* live) {
  std::shared_ptr<const Sealer> sealer;
  if (g.cluster.enabled()) {
    auto keys = Sealer::read_keys(g.cluster.session_key_file, error);
    if (!keys) {
      error = "gateway.cluster.sessionKeyFile: " + error;
      return false;
    }
    // The secret values a scope read are hashed under a key the replicas share, so one
    // replica finds what another saw; the ring's last (oldest) key stays while a new one is
    // added in front.
    const auto& k = keys->back();
    if (!gate::set_flow_key(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()))) {
      spdlog::debug("cluster: the value-flow key stays the one it started with");
    }
    sealer = std::make_shared<const Sealer>(std::move(*keys));
  }
  std::string replica = replica_name(g.cluster);
  // A reload that leaves Redis as it was keeps its connection and what hangs on it (the key
  // ring is read again all the same: that is how keys are rotated).
  const bool keep_shared = live != nullptr && live->redis == g.cluster.redis &&
                           live->redis_timeout == g.cluster.redis_timeout &&
                           live->redis_down_local == g.cluster.redis_down_local &&
                           replica_name(*live) == replica;
  SharedState shared;
  if (!keep_shared && !shared_state(g.cluster, replica, relay.executor(), shared, error)) {
    return false;
  }
  if (sealer) {
    spdlog::info("cluster: replica \"{}\", session ids sealed with the key ring of {}", replica,
                 g.cluster.session_key_file);
  }
  relay.use_session_keys(std::move(sealer), std::move(replica));
  if (!keep_shared) {
    relay.use_shared_state(std::move(shared.scopes), std::move(shared.approvals),
                           std::move(shared.redis), std::move(shared.rates));
  }
  return true;
}

json::object Reloader::reload(std::string_view why) {
  if (stopping_) {
    return refuse(why, "the gateway is shutting down");
  }
  std::string error;
  auto next = source_(error);
  if (!next) {
    return refuse(why, error);
  }
  auto kept = restart_only_changes(live_.gateway, next->gateway);
  if (relay_.has_vault() && !(live_.gateway.vault == next->gateway.vault)) {
    kept.emplace_back("vault");  // opened at start (its store follows auth.store's folder)
  }
  for (const auto& server : next->servers) {
    if (server.needs_vault() && !relay_.has_vault()) {
      const std::string what =
          server.user_secrets.empty()
              ? fmt::format("gateway.servers.{}.auth keeps each user's OAuth tokens", server.name)
              : fmt::format("mcpServers.{}.env reads ${{user:{}}}", server.name,
                            server.user_secrets.front());
      return refuse(why, fmt::format("{}, and the gateway started without a vault key "
                                     "(gateway.vault.keyFile or {}): restart it with one",
                                     what, live_.gateway.vault.key_env));
    }
  }
  std::optional<access::Authenticator::Prepared> auth;
  if (!prepare_auth(next->gateway, auth, error) || !apply_gate(*next, error) ||
      !apply_cluster(next->gateway, relay_, error, &live_.gateway.cluster)) {
    return refuse(why, error);
  }
  live_.gateway.cluster = next->gateway.cluster;
  if (auth) {
    auth_.adopt(std::move(*auth));
    live_.gateway.auth = next->gateway.auth;
    http_.auth_changed();
    spdlog::info("reload: authentication is now \"{}\" from the next request", live_.gateway.auth.mode);
  }
  take_settings(next->gateway);
  const std::vector<config::ServerConfig> previous = std::move(live_.servers);
  live_.servers = std::move(next->servers);
  const auto changes = relay_.reconfigure(previous);

  json::object out;
  out["ok"] = true;
  json::object servers;
  auto names = [](const std::vector<std::string>& v) { return json::array(v.begin(), v.end()); };
  servers["added"] = names(changes.added);
  servers["removed"] = names(changes.removed);
  servers["restarted"] = names(changes.restarted);
  servers["relabelled"] = names(changes.relabelled);
  out["servers"] = std::move(servers);
  out["needsRestart"] = names(kept);
  spdlog::info("reload ({}): {} server(s); added [{}], removed [{}], restarted [{}], "
               "relabelled [{}]",
               why, live_.servers.size(), fmt::join(changes.added, ", "),
               fmt::join(changes.removed, ", "), fmt::join(changes.restarted, ", "),
               fmt::join(changes.relabelled, ", "));
  if (!kept.empty()) {
    spdlog::warn("reload ({}): {} changed but need(s) a restart; still serving the running "
                 "value(s)",
                 why, fmt::join(kept, ", "));
  }
  return out;
}

bool Reloader::watch(const std::string& path, std::string& error) {
  const std::filesystem::path file = std::filesystem::absolute(path);
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    error = fmt::format("gateway.watch: inotify: {}", std::strerror(errno));
    return false;
  }
  const auto dir = file.parent_path().string();
  if (::inotify_add_watch(fd, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
    error = fmt::format("gateway.watch: cannot watch {}: {}", dir, std::strerror(errno));
    ::close(fd);
    return false;
  }
  inotify_ = std::make_unique<asio::posix::stream_descriptor>(ex_, fd);
  asio::co_spawn(ex_, watch_loop(file.filename().string()), asio::detached);
  spdlog::info("watching {} for changes (gateway.watch)", file.string());
  return true;
}

asio::awaitable<void> Reloader::watch_loop(std::string name) {
  char buf[4096];  // (a coroutine frame's locals may not get their alignas: read by memcpy)
  asio::steady_timer settle(ex_);
  for (;;) {
    auto [ec, n] = co_await inotify_->async_read_some(asio::buffer(buf),
                                                      asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        spdlog::error("gateway.watch: {}; no longer watching", ec.message());
      }
      co_return;
    }
    if (!names_file(buf, n, name)) {
      continue;
    }
    // An editor's save may be several events (truncate, write, rename): let them settle.
    settle.expires_after(std::chrono::milliseconds(100));
    co_await settle.async_wait(asio::as_tuple(asio::use_awaitable));
    // Asio's synchronous read waits for data unless told the descriptor is non-blocking
    // (IN_NONBLOCK alone is not enough): without this, draining would block the loop.
    (void)inotify_->non_blocking(true);
    boost::system::error_code drain_ec;
    while (inotify_->read_some(asio::buffer(buf), drain_ec) > 0) {
    }
    reload("the file changed");
  }
}

}  // namespace mcpgw::app
