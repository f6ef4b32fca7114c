#include "app/serve.hpp"
#include "app/reload.hpp"
#include "access/audit.hpp"
#include "access/authenticator.hpp"
#include "access/vault.hpp"
#include "store/postgres.hpp"

#include "common/memory.hpp"
#include "gate/chain.hpp"
#include "jsonrpc/message.hpp"
#include "relay/relay.hpp"
#include "downstream/http_server.hpp"
#include "upstream/keeper.hpp"
#include "upstream/otlp_exporter.hpp"
#include "upstream/process.hpp"
#include "upstream/server_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <sys/resource.h>
#include <map>

namespace mcpgw::app {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

/// Runs the loop until it is stopped. An exception that escapes a handler is logged and the
/// loop goes on: one bad request must never end the process (the coroutine it came from is
/// destroyed, and with it that request's connection).
void run_loop(asio::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("internal error, recovered: {}", e.what());
    } catch (...) {
      spdlog::error("internal error, recovered: unknown exception");
    }
  }
}

/// Raises the open-file limit to its hard limit: each client connection, server pipe and
/// upstream connection is a file descriptor.
void raise_fd_limit(const config::Limits& limits) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return;
  }
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      lim = raised;
    }
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < limits.max_connections) {
    spdlog::warn("the open-file limit ({}) is below limits.maxConnections ({}): connections "
                 "beyond it wait until others close",
                 lim.rlim_cur, limits.max_connections);
  }
}

/// False (with a critical log line) if the gateway listens beyond loopback without an
/// explicit auth mode.
bool auth_mode_chosen(const config::GatewayConfig& g) {
  if (!config::is_loopback_host(g.listen_host) && !g.auth.mode_set) {
    spdlog::critical("listening on {} needs an explicit gateway.auth.mode (or --auth): \"keys\", "
                     "\"jwt\", or \"none\" to let anyone who can reach it use every server",
                     g.listen_host);
    return false;
  }
  return true;
}

/// Sets up `auth` from gateway.auth and logs where keys and tokens come from. False (with a
/// critical log line) if it cannot.
bool init_auth(const config::GatewayConfig& g, access::Authenticator& auth,
               asio::any_io_executor ex) {
  std::string error;
  if (!auth.init(g.auth, error, std::move(ex))) {
    spdlog::critical("{}", error);
    return false;
  }
  auth.set_failure_limit(g.limits.auth_failures_per_min);
  if (g.auth.uses_keys()) {
    spdlog::info("authentication: API keys from {}", store::redact_password(g.auth.store));
  }
  if (const auto* jwt = auth.jwt()) {
    spdlog::info("authentication: access tokens from {} (audience {}), signing keys from {}{}",
                 jwt->config().issuer, fmt::join(jwt->config().audiences, ", "),
                 jwt->config().jwks.substr(0, jwt->config().jwks.find('?')),
                 jwt->config().jwks_is_url ? "" : fmt::format(" ({} key(s))", jwt->key_count()));
  }
  return true;
}

/// Opens the audit trail into `audit` if it is on (by default, whenever auth is). False (with
/// a critical log line) if it cannot be opened.
bool open_audit(const config::GatewayConfig& g, std::unique_ptr<access::AuditLog>& audit) {
  if (!audit_on(g)) {
    return true;
  }
  access::AuditOptions opts;
  opts.path = g.audit.store;
  opts.replica = replica_name(g.cluster);
  opts.queue = g.audit.queue;
  opts.block_when_full = g.audit.block_when_full;
  std::string error;
  audit = access::AuditLog::open(opts, error);
  if (!audit) {
    spdlog::critical("{}", error);
    return false;
  }
  spdlog::info("audit trail: {}", store::redact_password(opts.path));
  return true;
}

/// Opens the vault when a server's env reads `${user:NAME}` or keeps OAuth tokens, or when a
/// vault key is given (so a reload may add such a server). False (with a critical log line) when a server needs it and
/// it cannot be opened.
bool open_vault(const config::Config& cfg, std::shared_ptr<access::VaultReader>& out) {
  const auto& v = cfg.gateway.vault;
  const bool needed = std::any_of(cfg.servers.begin(), cfg.servers.end(),
                                  [](const auto& s) { return s.needs_vault(); });
  const char* env_key = v.key_env.empty() ? nullptr : std::getenv(v.key_env.c_str());
  if (!needed && v.key_file.empty() && (env_key == nullptr || *env_key == '\0')) {
    return true;
  }
  std::string error;
  auto vault = access::open_vault(v, "", cfg.gateway.auth.store_timeout, error);
  if (!vault) {
    if (needed) {
      spdlog::critical("gateway.vault: {}", error);
      return false;
    }
    spdlog::warn("gateway.vault: {}; no server reads ${{user:…}} or keeps OAuth tokens, so "
                 "serving without it", error);
    return true;
  }
  out = std::make_shared<access::VaultReader>(std::move(vault));
  spdlog::info("vault: {}", store::redact_password(v.store));
  return true;
}

/// Builds the security gate into `gate` (null when it is off) and logs its filters. False
/// (with critical log lines) if its settings are wrong.
bool create_gate(const config::Config& cfg, asio::any_io_executor ex,
                 std::unique_ptr<gate::Gate>& gate) {
  config::Diagnostics gate_diag;
  gate = gate::Gate::create(cfg, ex, gate_diag);
  if (!gate_diag.ok()) {
    for (const auto& e : gate_diag.errors) {
      spdlog::critical("{}", e);
    }
    return false;
  }
  const std::string why = config::security_reason(cfg.gateway.security);
  if (gate) {
    spdlog::info("security gate: {}{}{}", gate->filter_names(), why.empty() ? "" : "; " + why,
                 gate->admin_token().empty()
                     ? fmt::format("; admin API off (set {} to approve held calls)",
                                   cfg.gateway.security.admin_token_env)
                     : std::string("; admin API on"));
  } else {
    spdlog::info("security gate: {}", why);
  }
  return true;
}

/// Waits for SIGINT or SIGTERM on `signals`: the first drains `http` (up to `drain`), sends
/// the spans still queued (`exporter`, when tracing is on) and then stops the loop; a second
/// one stops the loop at once.
void arm_stop(asio::signal_set& signals, asio::io_context& ioc, downstream::HttpServer& http,
              std::chrono::milliseconds drain, bool& stopping,
              std::shared_ptr<upstream::OtlpExporter> exporter) {
  signals.async_wait([&signals, &ioc, &http, drain, &stopping,
                      exporter](const boost::system::error_code& ec, int sig) {
    if (ec) {
      return;
    }
    if (stopping) {
      spdlog::warn("second signal: exiting now");
      ioc.stop();
      return;
    }
    stopping = true;
    spdlog::info("signal {}: draining (up to {} ms)", sig, drain.count());
    asio::co_spawn(ioc, [&ioc, &http, drain, exporter]() -> asio::awaitable<void> {
      co_await http.shutdown(drain);
      if (exporter) {
        co_await exporter->stop(Clock::now() + std::chrono::seconds(2));
      }
      spdlog::info("stopped");
      ioc.stop();
    }, asio::detached);
    arm_stop(signals, ioc, http, drain, stopping, exporter);
  });
}

/// Waits for SIGHUP on `hangup` and reloads the configuration (a broken one is refused, and
/// the gateway goes on with the one it had). SIGHUP's default action would end the process.
void arm_hangup(asio::signal_set& hangup, Reloader& reloader) {
  hangup.async_wait([&hangup, &reloader](const boost::system::error_code& ec, int) {
    if (ec) {
      return;
    }
    reloader.reload("SIGHUP");
    arm_hangup(hangup, reloader);
  });
}

/// Starts exporting spans when gateway.tracing names an endpoint. False (with a critical log
/// line) if it cannot.
bool start_tracing(const config::GatewayConfig& g, asio::any_io_executor ex,
                   std::shared_ptr<upstream::OtlpExporter>& exporter) {
  if (g.tracing.endpoint.empty()) {
    return true;
  }
  std::string error;
  exporter = upstream::OtlpExporter::create(ex, g.tracing, g.timeouts.connect, error);
  if (!exporter) {
    spdlog::critical("{}", error);
    return false;
  }
  exporter->start();
  spdlog::info("tracing: spans to {} (sampleRatio {})",
               upstream::display_url(g.tracing.endpoint), g.tracing.sample_ratio);
  return true;
}

/// At the end of `serve`: ends what servers left behind and writes the audit trail's last rows.
void finish(access::AuditLog* audit) {
  if (const auto orphans = upstream::kill_orphans(upstream::Keeper::pid()); orphans > 0) {
    spdlog::warn("killed {} process(es) that servers left behind", orphans);
  }
  if (audit != nullptr) {
    // Every answered request has its row before the process ends; a store that is down gets
    // a bounded wait, and the rows it did not take are counted as lost.
    if (!audit->flush(std::chrono::seconds(2))) {
      spdlog::error("audit trail: {} row(s) still wait for the store: {}", audit->queued(),
                    audit->store_problem());
    }
    spdlog::info("audit trail: {} row(s) written, {} dropped", audit->written(), audit->dropped());
  }
}

/// A host as it goes in a URL: an IPv6 address in brackets.
std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

/// Where users' browsers reach the gateway: gateway.publicUrl, else the address it listens on
/// (said with a warning when that is not one a browser can use and a server needs it).
std::string public_url(const config::Config& cfg, std::uint16_t port) {
  if (!cfg.gateway.public_url.empty()) {
    return cfg.gateway.public_url;
  }
  const auto& host = cfg.gateway.listen_host;
  const bool oauth = std::any_of(cfg.servers.begin(), cfg.servers.end(), [](const auto& s) {
    return s.options.auth.type == config::UpstreamAuth::Type::oauth;
  });
  if (oauth && (host == "0.0.0.0" || host == "::")) {
    spdlog::warn("gateway.publicUrl is not set: the OAuth consent links name {}, which a "
                 "browser cannot reach; set it to the gateway's URL", host);
  }
  return fmt::format("http://{}:{}", url_host(host), port);
}

/// Binds the gateway's address (and the metrics', when separate), and tells the relay the URL
/// browsers reach it at. False (with a critical log line) when one cannot be bound.
bool listen(const config::Config& cfg, downstream::HttpServer& http, relay::Relay& relay) {
  std::string error;
  if (!http.listen(cfg.gateway.listen_host, cfg.gateway.listen_port, error)) {
    spdlog::critical("{}", error);
    return false;
  }
  relay.set_public_url(public_url(cfg, http.port()));
  const auto& m = cfg.gateway.metrics;
  if (m.enabled && !m.listen_host.empty() &&
      !http.listen_metrics(m.listen_host, m.listen_port, error)) {
    spdlog::critical("gateway.metrics.listen: {}", error);
    return false;
  }
  return true;
}

/// Prints where the gateway would listen and each server it would run or connect to.
void print_plan(const config::Config& cfg) {
  const auto& g = cfg.gateway;
  fmt::print("listen: {}:{}\n", g.listen_host, g.listen_port);
  fmt::print("endpoint: http://{}:{}/mcp (per server: /mcp/NAME; legacy SSE: /sse)\n",
             g.listen_host, g.listen_port);
  fmt::print("name separator: \"{}\"\n", g.separator);
  fmt::print("servers ({}):\n", cfg.servers.size());
  for (const auto& s : cfg.servers) {
    if (s.transport == config::Transport::stdio) {
      std::string args;
      for (const auto& a : s.args) {
        args += " " + a;
      }
      fmt::print("  {:<20} stdio  {}{}  (cwd {}, isolation {})\n", s.name, s.command, args, s.cwd,
                 config::to_string(s.options.isolation));
    } else {
      // Without userinfo and query: either may hold a key.
      fmt::print("  {:<20} {:<5}  {}\n", s.name, config::to_string(s.transport),
                 upstream::display_url(s.url));
    }
  }
}

/// Builds the security gate (without starting it) and prints its filters. False (with the
/// errors on stderr) if its settings are wrong.
bool print_gate(const config::Config& cfg) {
  asio::io_context check_ioc(1);
  config::Diagnostics gate_diag;
  auto gate = gate::Gate::create(cfg, check_ioc.get_executor(), gate_diag, true);
  if (!gate) {
    for (const auto& e : gate_diag.errors) {
      fmt::print(stderr, "error: {}\n", e);
    }
    return false;
  }
  const std::string why = config::security_reason(cfg.gateway.security);
  fmt::print("security gate: {}{}\n", gate->filter_names(), why.empty() ? "" : "; " + why);
  return true;
}

/// Sends `method` (with the parameters of `initialize`) on session `s`; returns the reply.
asio::awaitable<json::object> ask(relay::Relay& relay, const relay::SessionPtr& s,
                                  std::string method) {
  auto out = s->new_request_stream(false);
  json::object params;
  if (method == "initialize") {
    params["protocolVersion"] = "2025-11-25";
    params["capabilities"] = json::object();
    json::object info;
    info["name"] = "mcpgw check-config";
    info["version"] = MCPGW_VERSION;
    params["clientInfo"] = info;
  }
  co_await relay.handle_request(s, jsonrpc::make_request(1, method, params), out);
  co_return jsonrpc::parse(out->front()->data).value().as_object();
}

/// Lists the tools, prompts and resources on session `s` and prints their names. Returns 1 if
/// a name is exposed twice, else 0.
asio::awaitable<int> print_lists(relay::Relay& relay, const relay::SessionPtr& s) {
  int rc = 0;
  std::map<std::string, std::string> seen;
  for (const char* kind : {"tools", "prompts", "resources"}) {
    json::object reply = co_await ask(relay, s, fmt::format("{}/list", kind));
    const auto* result = reply.if_contains("result");
    if (result == nullptr) {
      continue;
    }
    const auto& items = result->as_object().at(kind).as_array();
    fmt::print("{} ({}):\n", kind, items.size());
    const char* key = std::string_view(kind) == "resources" ? "uri" : "name";
    for (const auto& item : items) {
      const std::string name(std::string_view(item.as_object().at(key).as_string()));
      fmt::print("  {}\n", name);
      if (auto [it, fresh] = seen.emplace(std::string(kind) + ":" + name, name); !fresh) {
        fmt::print("  error: collision: {} is exposed twice\n", name);
        rc = 1;
      }
    }
  }
  co_return rc;
}

/// Prints each server of `health` that is not ready. Returns 1 if there is one, else 0.
int print_unready(const json::object& health) {
  int rc = 0;
  for (const auto& [name, state] : health.at("servers").as_object()) {
    const auto& st = state.as_object();
    if (st.at("state").as_string() != "ready") {
      fmt::print("error: server {} is {}{}\n", std::string_view(name),
                 std::string_view(st.at("state").as_string()),
                 st.contains("reason")
                     ? fmt::format(": {}", std::string_view(st.at("reason").as_string()))
                     : std::string());
      rc = 1;
    }
  }
  return rc;
}

/// Opens a session on every server, as a client of the aggregate endpoint would, prints what
/// it sees and closes it. Returns 1 if there was a problem, else 0.
asio::awaitable<int> probe(relay::Relay& relay, const config::Config& cfg) {
  std::vector<std::string> all;
  for (const auto& s : cfg.servers) {
    all.push_back(s.name);
  }
  auto session = relay.create_session({.view = all, .endpoint = "/mcp"});
  auto s = *session;
  co_await ask(relay, s, "initialize");
  int rc = co_await print_lists(relay, s);
  if (print_unready(relay.health()) != 0) {
    rc = 1;
  }
  relay.close_session(s, "done");
  co_return rc;
}

}  // namespace

int serve(config::Config cfg, const std::string& path, ConfigSource source) {
  std::signal(SIGPIPE, SIG_IGN);  // a server that died mid-write must not take us down
  raise_fd_limit(cfg.gateway.limits);
  // Server processes never outlive the gateway: orphans of their children come back to us,
  // and the keeper ends whatever is left if the gateway dies without doing it.
  upstream::become_subreaper();
  std::string keeper_error;
  if (!upstream::Keeper::start(keeper_error)) {
    spdlog::critical("{}", keeper_error);
    return 1;
  }
  asio::io_context ioc(1);
  upstream::Reaper reaper(ioc);
  upstream::Reaper::install(&reaper);

  if (!auth_mode_chosen(cfg.gateway)) {
    return 2;
  }
  access::Authenticator auth;
  if (!init_auth(cfg.gateway, auth, ioc.get_executor())) {
    return 1;
  }
  std::unique_ptr<access::AuditLog> audit;
  std::shared_ptr<access::VaultReader> vault;
  if (!open_audit(cfg.gateway, audit) || !open_vault(cfg, vault)) {
    return 1;
  }
  std::unique_ptr<gate::Gate> gate;
  if (!create_gate(cfg, ioc.get_executor(), gate)) {
    return 1;
  }
  relay::Relay relay(ioc.get_executor(), cfg);
  relay.set_audit(audit.get());
  relay.set_gate(gate.get());
  relay.set_vault(vault);
  std::string error;
  if (!apply_cluster(cfg.gateway, relay, error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  downstream::HttpServer http(ioc, relay, cfg, auth);
  if (!listen(cfg, http, relay)) {
    return 1;
  }
  const auto& m = cfg.gateway.metrics;
  bool stopping = false;
  Reloader reloader(cfg, std::move(source), relay, auth, http, gate, stopping,
                    ioc.get_executor());
  http.set_reload([&reloader](std::string_view why) { return reloader.reload(why); });
  if (cfg.gateway.watch && !reloader.watch(path, error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  std::shared_ptr<upstream::OtlpExporter> exporter;
  if (!start_tracing(cfg.gateway, ioc.get_executor(), exporter)) {
    return 1;
  }
  relay.start();
  http.start();
  spdlog::info("mcpgw {} listening on http://{}:{}/mcp (legacy SSE: /sse) with {} server(s)",
               MCPGW_VERSION, url_host(cfg.gateway.listen_host), http.port(), cfg.servers.size());
  if (http.metrics_port() != 0) {
    spdlog::info("metrics on http://{}:{}/metrics", url_host(m.listen_host), http.metrics_port());
  }
  spdlog::debug("allocator: {}", memory::allocator_name());

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  arm_stop(signals, ioc, http, cfg.gateway.timeouts.drain, stopping, exporter);
  asio::signal_set hangup(ioc, SIGHUP);
  arm_hangup(hangup, reloader);
  run_loop(ioc);
  finish(audit.get());
  return 0;
}

int check_config(const config::Config& cfg_in, bool start) {
  config::Config cfg = cfg_in;
  print_plan(cfg);
  if (!cfg.gateway.security.enabled) {
    fmt::print("security gate: {}\n", config::security_reason(cfg.gateway.security));
  } else if (!print_gate(cfg)) {
    return 2;
  }
  if (!start) {
    fmt::print("ok\n");
    return 0;
  }

  // Start every server and ask for its lists, as a client of the aggregate endpoint would.
  std::signal(SIGPIPE, SIG_IGN);
  cfg.gateway.timeouts.list = cfg.gateway.timeouts.startup;
  asio::io_context ioc(1);
  upstream::Reaper reaper(ioc);
  upstream::Reaper::install(&reaper);
  relay::Relay relay(ioc.get_executor(), cfg);
  relay.start();
  int rc = 0;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    rc = co_await probe(relay, cfg);
    co_await relay.stop();
    ioc.stop();
  }, asio::detached);
  ioc.run();
  fmt::print("{}\n", rc == 0 ? "ok" : "problems found");
  return rc;
}

}  // namespace mcpgw::app
