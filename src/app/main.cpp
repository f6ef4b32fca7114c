// mcpgw: one MCP endpoint for every client, in front of many MCP servers.
#include "app/import_cmd.hpp"
#include "app/probe_cmd.hpp"
#include "app/secrets_cmd.hpp"
#include "app/serve.hpp"
#include "app/stdio_cmd.hpp"
#include "app/subcommand.hpp"
#include "app/tokens_cmd.hpp"
#include "common/log.hpp"
#include "config/config.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <utility>
#include <vector>

namespace {

/// Reads the config file; false with each problem in `problems` (one per line). Warnings go
/// to `warnings`.
bool load(const std::string& path, mcpgw::config::Config& out, std::string& problems,
          std::vector<std::string>& warnings) {
  mcpgw::config::Diagnostics diag;
  auto cfg = mcpgw::config::load_file(path, diag);
  warnings = std::move(diag.warnings);
  for (const auto& e : diag.errors) {
    problems += fmt::format("{}error: {}", problems.empty() ? "" : "\n", e);
  }
  if (!cfg) {
    problems += fmt::format("\n{}: {} error(s)", path, diag.errors.size());
    return false;
  }
  out = std::move(*cfg);
  return true;
}

bool load(const std::string& path, mcpgw::config::Config& out) {
  std::string problems;
  std::vector<std::string> warnings;
  const bool ok = load(path, out, problems, warnings);
  for (const auto& w : warnings) {
    fmt::print(stderr, "warning: {}\n", w);
  }
  if (!ok) {
    fmt::print(stderr, "{}\n", problems);
  }
  return ok;
}

/// `serve`: its subcommand and options.
struct ServeCli {
  CLI::App* cmd = nullptr;
  std::string config_path, listen, log_level, log_format, auth_mode, store_path;
};

/// Adds `serve` to `app`.
void add_serve(CLI::App& app, ServeCli& o) {
  o.cmd = app.add_subcommand("serve", "Run the gateway");
  o.cmd->add_option("-c,--config", o.config_path,
                    "Config file: {\"mcpServers\": {...}, \"gateway\": {...}}, or LiteLLM's "
                    "config.yaml (a .yaml or .yml file)")
      ->required();
  o.cmd->add_option("-l,--listen", o.listen,
                    "Listen address HOST:PORT (overrides gateway.listen)");
  o.cmd->add_option("--log-level", o.log_level,
                    "trace, debug, info, warn, error (overrides gateway.logLevel)");
  o.cmd->add_option("--log-format", o.log_format,
                    "text or json: one JSON object per line (overrides gateway.logFormat)");
  o.cmd->add_option("--auth", o.auth_mode,
                    "none, keys, jwt or keys,jwt (overrides gateway.auth.mode)");
  o.cmd->add_option("--store", o.store_path,
                    "The store of keys: a SQLite file or postgres://… (overrides "
                    "gateway.auth.store)");
}

/// Applies `serve`'s command-line overrides to `cfg` (normalising --auth in place). False
/// (with the error on stderr) if one is wrong.
bool apply_overrides(ServeCli& o, mcpgw::config::Config& cfg) {
  if (!o.listen.empty() &&
      !mcpgw::config::parse_listen(o.listen, cfg.gateway.listen_host, cfg.gateway.listen_port)) {
    fmt::print(stderr, "error: --listen: expected HOST:PORT, got \"{}\"\n", o.listen);
    return false;
  }
  if (!o.log_level.empty()) {
    cfg.gateway.log_level = o.log_level;
  }
  if (!o.log_format.empty()) {
    if (!mcpgw::log::parse_format(o.log_format)) {
      fmt::print(stderr, "error: --log-format: expected text or json, got \"{}\"\n",
                 o.log_format);
      return false;
    }
    cfg.gateway.log_format = o.log_format;
  }
  if (!o.auth_mode.empty()) {
    if (auto why = mcpgw::config::check_auth_mode(o.auth_mode); !why.empty()) {
      fmt::print(stderr, "error: --auth: {}\n", why);
      return false;
    }
    cfg.gateway.auth.mode = o.auth_mode;
    cfg.gateway.auth.mode_set = true;
    if (auto why = mcpgw::config::check_auth(cfg.gateway.auth); !why.empty()) {
      fmt::print(stderr, "error: --auth: {}\n", why);
      return false;
    }
  }
  if (!o.store_path.empty()) {
    cfg.gateway.auth.store = o.store_path;
    if (mcpgw::config::store_is_url(o.store_path)) {
      return true;  // the keys in PostgreSQL; the trail and the pins stay where they were
    }
    if (!cfg.gateway.audit.store_set) {
      cfg.gateway.audit.store = mcpgw::config::store_beside(o.store_path, "audit");
    }
    cfg.gateway.security.pin_store = mcpgw::config::store_beside(o.store_path, "pins");
  }
  return true;
}

/// Runs `serve`. Returns the process exit code.
int run_serve(ServeCli& o) {
  mcpgw::config::Config cfg;
  if (!load(o.config_path, cfg) || !apply_overrides(o, cfg)) {
    return 2;
  }
  const auto format = mcpgw::log::parse_format(cfg.gateway.log_format);
  if (!format || !mcpgw::log::init(cfg.gateway.log_level, *format)) {
    fmt::print(stderr, "error: unknown log level \"{}\"\n", cfg.gateway.log_level);
    return 2;
  }
  mcpgw::log::set_access_log(cfg.gateway.access_log);
  // A reload reads the file again, with the same command-line overrides.
  auto source = [&o](std::string& error) -> std::optional<mcpgw::config::Config> {
    mcpgw::config::Config next;
    std::vector<std::string> warnings;
    const bool ok = load(o.config_path, next, error, warnings);
    for (const auto& w : warnings) {
      spdlog::warn("{}: {}", o.config_path, w);
    }
    if (!ok) {
      return std::nullopt;
    }
    if (!apply_overrides(o, next)) {
      error = "a command-line override no longer applies (see the line above)";
      return std::nullopt;
    }
    return next;
  };
  const int rc = mcpgw::app::serve(std::move(cfg), o.config_path, source);
  mcpgw::log::flush();
  return rc;
}

/// `keys create|list|revoke`: its subcommands and options.
struct KeysCli {
  CLI::App* cmd = nullptr;
  std::vector<CLI::App*> actions;  ///< create, list, revoke
  mcpgw::app::KeysArgs args;
  std::string config;
};

/// Adds `keys` and its subcommands to `app`. The store is --store, or gateway.auth.store of
/// --config.
void add_keys(CLI::App& app, KeysCli& o) {
  o.cmd = app.add_subcommand("keys", "Manage API keys (create, list, revoke)");
  o.cmd->require_subcommand(1);
  auto store_options = [&](CLI::App* c) {
    c->add_option("--store", o.args.store, "The store: a SQLite file, or postgres://… (default: "
                                           "gateway.store or gateway.auth.store of --config, else "
                                           "mcpgw.db in the current directory)");
    c->add_option("-c,--config", o.config,
                  "Read the store's path (and, for create, the server names) from this config "
                  "file");
  };
  auto* kc = o.cmd->add_subcommand("create", "Create a key; prints it once, on the last line");
  kc->add_option("--name", o.args.name, "A unique name (shown in logs and the audit trail)")
      ->required();
  kc->add_option("--servers", o.args.servers, "Allowed servers, comma-separated (default: all)");
  kc->add_option("--tools", o.args.tools,
                 "Allowed tools, globs on exposed names such as github__*, comma-separated "
                 "(default: all)");
  kc->add_option("--deny-tools", o.args.deny_tools, "Denied tools, globs, comma-separated");
  kc->add_option("--expires", o.args.expires, "Lifetime: 30d, 12h, 90m");
  kc->add_option("--rate", o.args.rate, "Rate limit: N/min, N/s or N/h");
  store_options(kc);
  auto* kl = o.cmd->add_subcommand("list", "List keys (never the keys themselves)");
  store_options(kl);
  auto* kr = o.cmd->add_subcommand("revoke", "Revoke a key by name; takes effect at once");
  kr->add_option("name", o.args.name, "The key's name")->required();
  store_options(kr);
  o.actions = {kc, kl, kr};
}

/// Runs `keys`. Returns the process exit code.
int run_keys(KeysCli& o) {
  for (auto* sub : o.actions) {
    if (*sub) {
      o.args.action = sub->get_name();
    }
  }
  if (!o.config.empty()) {
    // The config gives the store (unless --store does) and the servers a key may name.
    mcpgw::config::Config cfg;
    if (!load(o.config, cfg)) {
      return 2;
    }
    if (o.args.store.empty()) {
      o.args.store = cfg.gateway.auth.store;
    }
    auto& known = o.args.known_servers.emplace();
    for (const auto& server : cfg.servers) {
      known.push_back(server.name);
    }
  }
  if (o.args.store.empty()) {
    o.args.store = "mcpgw.db";
  }
  return mcpgw::app::keys_command(o.args);
}

/// `audit tail|query`: its subcommands and options.
struct AuditCli {
  CLI::App* cmd = nullptr;
  CLI::App* tail = nullptr;
  mcpgw::app::AuditArgs args;
  std::string config;
};

/// Adds `audit` and its subcommands to `app`.
void add_audit(CLI::App& app, AuditCli& o) {
  o.cmd = app.add_subcommand("audit", "Read the audit trail (tail, query)");
  o.cmd->require_subcommand(1);
  auto audit_options = [&](CLI::App* c) {
    c->add_option("--store", o.args.store,
                  "The audit store: a SQLite file or postgres://… (default: mcpgw.audit.db, or "
                  "gateway.audit.store of --config)");
    c->add_option("-c,--config", o.config, "Read the store's path from this config file");
    c->add_option("--since", o.args.since, "Only rows newer than this: 1h, 30m, 7d");
    c->add_option("--key", o.args.key, "Only this key's rows (its name)");
    c->add_option("--tool", o.args.tool, "Only these tools/URIs (a glob)");
    c->add_option("--outcome", o.args.outcome, "Only ok, error, denied, timeout");
    c->add_flag("--json", o.args.json, "One JSON object per line");
  };
  o.tail = o.cmd->add_subcommand("tail", "The newest rows");
  o.tail->add_option("-n,--lines", o.args.lines, "How many (default 20)");
  audit_options(o.tail);
  auto* aq = o.cmd->add_subcommand("query", "Rows matching the filters, oldest first");
  audit_options(aq);
}

/// Runs `audit`. Returns the process exit code.
int run_audit(AuditCli& o) {
  o.args.action = *o.tail ? "tail" : "query";
  if (o.args.store.empty() && !o.config.empty()) {
    mcpgw::config::Config cfg;
    if (!load(o.config, cfg)) {
      return 2;
    }
    o.args.store = cfg.gateway.audit.store;
  }
  if (o.args.store.empty()) {
    o.args.store = "mcpgw.audit.db";
  }
  return mcpgw::app::audit_command(o.args);
}

/// `approvals list|approve|deny` and `tools list|approve`, the running gateway's admin API:
/// their subcommands and options.
struct AdminCli {
  CLI::App* approvals = nullptr;
  CLI::App* tools = nullptr;
  CLI::App* reload = nullptr;
  std::vector<CLI::App*> actions;  ///< every subcommand of both
  mcpgw::app::AdminArgs args;
  std::string config;
};

/// Adds the options every admin API subcommand has to `c`.
void add_admin_options(CLI::App* c, AdminCli& o) {
  c->add_option("--url", o.args.url, "The gateway (default: gateway.listen of --config, or "
                                     "http://127.0.0.1:8080)");
  c->add_option("-c,--config", o.config, "Read the gateway's address from this config");
  c->add_option("--token-file", o.args.token_file,
                "A file holding the admin token (default: the MCPGW_ADMIN_TOKEN variable)");
  c->add_flag("--json", o.args.json, "Print the API's JSON answer");
}

/// Adds `approvals` and its subcommands to `app`.
void add_approvals(CLI::App& app, AdminCli& o) {
  o.approvals = app.add_subcommand("approvals", "Calls held by the security gate for "
                                                "an administrator (list, approve, deny)");
  o.approvals->require_subcommand(1);
  auto* apl = o.approvals->add_subcommand("list", "Calls waiting for approval");
  add_admin_options(apl, o);
  o.actions.push_back(apl);
  for (auto [name, help] : {std::pair{"approve", "Let a held call through"},
                            std::pair{"deny", "Refuse a held call"}}) {
    auto* sub = o.approvals->add_subcommand(name, help);
    sub->add_option("id", o.args.id, "The approval's id")->required();
    add_admin_options(sub, o);
    o.actions.push_back(sub);
  }
}

/// Adds `tools` and its subcommands to `app`.
void add_tools(CLI::App& app, AdminCli& o) {
  o.tools = app.add_subcommand("tools", "Pinned tool definitions and the quarantine "
                                        "(list, approve)");
  o.tools->require_subcommand(1);
  auto* tl = o.tools->add_subcommand("list", "Pinned and quarantined tools");
  add_admin_options(tl, o);
  auto* ta = o.tools->add_subcommand("approve", "Accept a quarantined tool's new definition");
  ta->add_option("server", o.args.server, "The server's name")->required();
  ta->add_option("tool", o.args.tool, "The tool's name on that server (without the prefix)")
      ->required();
  add_admin_options(ta, o);
  o.actions.push_back(tl);
  o.actions.push_back(ta);
}

/// Adds `reload` to `app`.
void add_reload(CLI::App& app, AdminCli& o) {
  o.reload = app.add_subcommand("reload", "Make the running gateway read its configuration "
                                          "again (as SIGHUP does), and print what changed");
  add_admin_options(o.reload, o);
}

/// Reads the gateway's address and admin token settings from `path` into `args`. False (with
/// the errors on stderr) if the config does not load.
bool admin_from_config(const std::string& path, mcpgw::app::AdminArgs& args) {
  mcpgw::config::Config cfg;
  if (!load(path, cfg)) {
    return false;
  }
  const auto& host = cfg.gateway.listen_host;
  const bool any = host == "0.0.0.0" || host == "::";
  const std::string h = any ? "127.0.0.1" : host;
  args.url = fmt::format("http://{}:{}", h.find(':') != std::string::npos ? "[" + h + "]" : h,
                         cfg.gateway.listen_port);
  args.token_env = cfg.gateway.security.admin_token_env;
  if (args.token_file.empty()) {
    args.token_file = cfg.gateway.security.admin_token_file;
  }
  return true;
}

/// Runs `approvals`, `tools` or `reload`. Returns the process exit code.
int run_admin(AdminCli& o) {
  o.args.command = *o.approvals ? "approvals" : *o.reload ? "reload" : "tools";
  for (auto* sub : o.actions) {
    if (*sub) {
      o.args.action = sub->get_name();
    }
  }
  if (o.args.url.empty()) {
    o.args.url = "http://127.0.0.1:8080";
    if (!o.config.empty() && !admin_from_config(o.config, o.args)) {
      return 2;
    }
  }
  return mcpgw::app::admin_command(o.args);
}

/// `check-config`: its subcommand and options.
struct CheckCli {
  CLI::App* cmd = nullptr;
  std::string config_path;
  bool no_start = false;
};

/// Adds `check-config` to `app`.
void add_check(CLI::App& app, CheckCli& o) {
  o.cmd = app.add_subcommand("check-config",
                             "Validate a config file and print what would be served");
  o.cmd->add_option("config", o.config_path, "Config file (JSON, or LiteLLM's .yaml)")->required();
  o.cmd->add_flag("--no-start", o.no_start,
                  "Only validate; do not start the servers to list their tools");
}

/// Runs `check-config`. Returns the process exit code.
int run_check(const CheckCli& o) {
  mcpgw::config::Config cfg;
  if (!load(o.config_path, cfg)) {
    return 2;
  }
  mcpgw::log::init(o.no_start ? "warn" : "error");
  return mcpgw::app::check_config(cfg, !o.no_start);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mcpgw: a Model Context Protocol gateway. One endpoint for every MCP client "
               "(Streamable HTTP, legacy SSE) in front of many MCP servers."};
  app.set_version_flag("--version", std::string("mcpgw ") + MCPGW_VERSION);
  app.require_subcommand(1);
  ServeCli serve;
  add_serve(app, serve);
  KeysCli keys;
  add_keys(app, keys);
  AuditCli audit;
  add_audit(app, audit);
  AdminCli admin;
  add_approvals(app, admin);
  add_tools(app, admin);
  add_reload(app, admin);
  CheckCli check;
  add_check(app, check);
  std::vector<mcpgw::app::SubcommandPtr> more;  // the subcommands that live in their own file
  more.push_back(mcpgw::app::make_stdio_command());
  more.push_back(mcpgw::app::make_import_command());
  more.push_back(mcpgw::app::make_probe_command());
  more.push_back(mcpgw::app::make_secrets_command());
  more.push_back(mcpgw::app::make_tokens_command());
  std::vector<CLI::App*> more_cmds;
  for (auto& c : more) {
    more_cmds.push_back(c->add(app));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a wrong command line exits 2, like a wrong config.
    return app.exit(e) == 0 ? 0 : 2;
  }

  for (std::size_t i = 0; i < more.size(); ++i) {
    if (*more_cmds[i]) {
      return more[i]->run();
    }
  }

  if (*serve.cmd) {
    return run_serve(serve);
  }
  if (*keys.cmd) {
    return run_keys(keys);
  }
  if (*audit.cmd) {
    return run_audit(audit);
  }
  if (*admin.approvals || *admin.tools || *admin.reload) {
    return run_admin(admin);
  }
  if (*check.cmd) {
    return run_check(check);
  }
  return 0;
}
