#include "app/serve.hpp"
#include "access/audit.hpp"
#include "access/authenticator.hpp"

#include "common/memory.hpp"
#include "gate/chain.hpp"
#include "jsonrpc/message.hpp"
#include "relay/relay.hpp"
#include "downstream/http_server.hpp"
#include "upstream/keeper.hpp"
#include "upstream/process.hpp"

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

}  // namespace

int serve(config::Config cfg) {
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

  std::string error;
  if (!config::is_loopback_host(cfg.gateway.listen_host) && !cfg.gateway.auth.mode_set) {
    spdlog::critical("listening on {} needs an explicit gateway.auth.mode (or --auth): \"keys\", "
                     "\"jwt\", or \"none\" to let anyone who can reach it use every server",
                     cfg.gateway.listen_host);
    return 2;
  }
  access::Authenticator auth;
  if (!auth.init(cfg.gateway.auth, error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  auth.set_failure_limit(cfg.gateway.limits.auth_failures_per_min);
  if (cfg.gateway.auth.uses_keys()) {
    spdlog::info("authentication: API keys from {}", cfg.gateway.auth.store);
  }
  if (const auto* jwt = auth.jwt()) {
    spdlog::info("authentication: access tokens from {} (audience {}), signing keys from {}{}",
                 jwt->config().issuer, fmt::join(jwt->config().audiences, ", "),
                 jwt->config().jwks.substr(0, jwt->config().jwks.find('?')),
                 jwt->config().jwks_is_url ? "" : fmt::format(" ({} key(s))", jwt->key_count()));
  }
  std::unique_ptr<access::AuditLog> audit;
  if (cfg.gateway.audit.enabled.value_or(cfg.gateway.auth.mode != "none")) {
    access::AuditOptions opts;
    opts.path = cfg.gateway.audit.store;
    opts.queue = cfg.gateway.audit.queue;
    opts.block_when_full = cfg.gateway.audit.block_when_full;
    audit = access::AuditLog::open(opts, error);
    if (!audit) {
      spdlog::critical("{}", error);
      return 1;
    }
    spdlog::info("audit trail: {}", opts.path);
  }
  config::Diagnostics gate_diag;
  auto gate = gate::Gate::create(cfg, ioc.get_executor(), gate_diag);
  if (!gate_diag.ok()) {
    for (const auto& e : gate_diag.errors) {
      spdlog::critical("{}", e);
    }
    return 1;
  }
  if (gate) {
    spdlog::info("security gate: {}{}", gate->filter_names(),
                 gate->admin_token().empty()
                     ? fmt::format("; admin API off (set {} to approve held calls)",
                                   cfg.gateway.security.admin_token_env)
                     : std::string("; admin API on"));
  }
  relay::Relay relay(ioc.get_executor(), cfg);
  relay.set_audit(audit.get());
  relay.set_gate(gate.get());
  downstream::HttpServer http(ioc, relay, cfg, auth);
  if (!http.listen(cfg.gateway.listen_host, cfg.gateway.listen_port, error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  relay.start();
  http.start();
  const std::string host = cfg.gateway.listen_host.find(':') != std::string::npos
                               ? "[" + cfg.gateway.listen_host + "]"
                               : cfg.gateway.listen_host;
  spdlog::info("mcpgw {} listening on http://{}:{}/mcp (legacy SSE: /sse) with {} server(s)",
               MCPGW_VERSION, host, http.port(), cfg.servers.size());
  spdlog::debug("allocator: {}", memory::allocator_name());

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  bool stopping = false;
  std::function<void()> arm = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) {
        return;
      }
      if (stopping) {
        spdlog::warn("second signal: exiting now");
        ioc.stop();
        return;
      }
      stopping = true;
      spdlog::info("signal {}: draining (up to {} ms)", sig, cfg.gateway.timeouts.drain.count());
      asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        co_await http.shutdown(cfg.gateway.timeouts.drain);
        spdlog::info("stopped");
        ioc.stop();
      }, asio::detached);
      arm();
    });
  };
  arm();
  // SIGHUP's default action ends the process; an operator sending it expects a reload, never
  // an outage. Until reload exists it is logged and ignored.
  asio::signal_set hangup(ioc, SIGHUP);
  std::function<void()> arm_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) {
        return;
      }
      spdlog::warn("SIGHUP: configuration reload is not supported; still serving the "
                   "configuration it started with");
      arm_hangup();
    });
  };
  arm_hangup();
  run_loop(ioc);
  if (const auto orphans = upstream::kill_orphans(upstream::Keeper::pid()); orphans > 0) {
    spdlog::warn("killed {} process(es) that servers left behind", orphans);
  }
  if (audit) {
    audit->flush();  // every answered request has its row before the process ends
    spdlog::info("audit trail: {} row(s) written, {} dropped", audit->written(), audit->dropped());
  }
  return 0;
}

int check_config(const config::Config& cfg_in, bool start) {
  config::Config cfg = cfg_in;
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
      fmt::print("  {:<20} {:<5}  {}\n", s.name, config::to_string(s.transport), s.url);
    }
  }
  if (g.security.enabled) {
    asio::io_context check_ioc(1);
    config::Diagnostics gate_diag;
    auto gate = gate::Gate::create(cfg, check_ioc.get_executor(), gate_diag, true);
    if (!gate) {
      for (const auto& e : gate_diag.errors) {
        fmt::print(stderr, "error: {}\n", e);
      }
      return 2;
    }
    fmt::print("security gate: {}\n", gate->filter_names());
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
    std::vector<std::string> all;
    for (const auto& s : cfg.servers) {
      all.push_back(s.name);
    }
    auto session = relay.create_session(relay::ClientTransport::streamable_http, all, false, "/mcp");
    auto s = *session;
    auto ask = [&](std::string method) -> asio::awaitable<json::object> {
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
    };
    co_await ask("initialize");
    std::map<std::string, std::string> seen;
    for (const char* kind : {"tools", "prompts", "resources"}) {
      json::object reply = co_await ask(fmt::format("{}/list", kind));
      const auto* result = reply.if_contains("result");
      if (result == nullptr) {
        continue;
      }
      const auto& items = result->as_object().at(kind).as_array();
      fmt::print("{} ({}):\n", kind, items.size());
      for (const auto& item : items) {
        const auto& o = item.as_object();
        const std::string name(std::string_view(o.at(std::string_view(kind) == "resources" ? "uri" : "name").as_string()));
        fmt::print("  {}\n", name);
        if (auto [it, fresh] = seen.emplace(std::string(kind) + ":" + name, name); !fresh) {
          fmt::print("  error: collision: {} is exposed twice\n", name);
          rc = 1;
        }
      }
    }
    const json::object health = relay.health();
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
    relay.close_session(s, "done");
    co_await relay.stop();
    ioc.stop();
  }, asio::detached);
  ioc.run();
  fmt::print("{}\n", rc == 0 ? "ok" : "problems found");
  return rc;
}

}  // namespace mcpgw::app
