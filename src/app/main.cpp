// mcpgw: one MCP endpoint for every client, in front of many MCP servers.
#include "app/serve.hpp"
#include "common/log.hpp"
#include "config/config.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <utility>
#include <vector>

namespace {

bool load(const std::string& path, mcpgw::config::Config& out) {
  mcpgw::config::Diagnostics diag;
  auto cfg = mcpgw::config::load_file(path, diag);
  for (const auto& w : diag.warnings) {
    fmt::print(stderr, "warning: {}\n", w);
  }
  for (const auto& e : diag.errors) {
    fmt::print(stderr, "error: {}\n", e);
  }
  if (!cfg) {
    fmt::print(stderr, "{}: {} error(s)\n", path, diag.errors.size());
    return false;
  }
  out = std::move(*cfg);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mcpgw: a Model Context Protocol gateway. One endpoint for every MCP client "
               "(Streamable HTTP, legacy SSE) in front of many MCP servers."};
  app.set_version_flag("--version", std::string("mcpgw ") + MCPGW_VERSION);
  app.require_subcommand(1);

  std::string config_path;
  std::string listen;
  std::string log_level;
  auto* serve = app.add_subcommand("serve", "Run the gateway");
  serve->add_option("-c,--config", config_path,
                    "Config file: {\"mcpServers\": {...}, \"gateway\": {...}}")
      ->required();
  serve->add_option("-l,--listen", listen, "Listen address HOST:PORT (overrides gateway.listen)");
  serve->add_option("--log-level", log_level,
                    "trace, debug, info, warn, error (overrides gateway.logLevel)");

  std::string auth_mode;
  std::string store_path;
  serve->add_option("--auth", auth_mode, "none, keys, jwt or keys,jwt (overrides gateway.auth.mode)");
  serve->add_option("--store", store_path,
                    "The SQLite store of keys (overrides gateway.auth.store)");

  // keys: create | list | revoke. The store is --store, or gateway.auth.store of --config.
  mcpgw::app::KeysArgs keys;
  std::string keys_config;
  auto* keys_cmd = app.add_subcommand("keys", "Manage API keys (create, list, revoke)");
  keys_cmd->require_subcommand(1);
  auto store_options = [&](CLI::App* c) {
    c->add_option("--store", keys.store, "The SQLite store (default: mcpgw.db next to --config, "
                                         "or in the current directory)");
    c->add_option("-c,--config", keys_config, "Read the store's path from this config file");
  };
  auto* kc = keys_cmd->add_subcommand("create", "Create a key; prints it once, on the last line");
  kc->add_option("--name", keys.name, "A unique name (shown in logs and the audit trail)")->required();
  kc->add_option("--servers", keys.servers, "Allowed servers, comma-separated (default: all)");
  kc->add_option("--tools", keys.tools,
                 "Allowed tools, globs on exposed names such as github__*, comma-separated "
                 "(default: all)");
  kc->add_option("--deny-tools", keys.deny_tools, "Denied tools, globs, comma-separated");
  kc->add_option("--expires", keys.expires, "Lifetime: 30d, 12h, 90m");
  kc->add_option("--rate", keys.rate, "Rate limit: N/min, N/s or N/h");
  store_options(kc);
  auto* kl = keys_cmd->add_subcommand("list", "List keys (never the keys themselves)");
  store_options(kl);
  auto* kr = keys_cmd->add_subcommand("revoke", "Revoke a key by name; takes effect at once");
  kr->add_option("name", keys.name, "The key's name")->required();
  store_options(kr);

  // audit: tail | query.
  mcpgw::app::AuditArgs audit;
  std::string audit_config;
  auto* audit_cmd = app.add_subcommand("audit", "Read the audit trail (tail, query)");
  audit_cmd->require_subcommand(1);
  auto audit_options = [&](CLI::App* c) {
    c->add_option("--store", audit.store,
                  "The audit store (default: mcpgw.audit.db, or gateway.audit.store of --config)");
    c->add_option("-c,--config", audit_config, "Read the store's path from this config file");
    c->add_option("--since", audit.since, "Only rows newer than this: 1h, 30m, 7d");
    c->add_option("--key", audit.key, "Only this key's rows (its name)");
    c->add_option("--tool", audit.tool, "Only these tools/URIs (a glob)");
    c->add_option("--outcome", audit.outcome, "Only ok, error, denied, timeout");
    c->add_flag("--json", audit.json, "One JSON object per line");
  };
  auto* at = audit_cmd->add_subcommand("tail", "The newest rows");
  at->add_option("-n,--lines", audit.lines, "How many (default 20)");
  audit_options(at);
  auto* aq = audit_cmd->add_subcommand("query", "Rows matching the filters, oldest first");
  audit_options(aq);

  // approvals list|approve|deny, tools list|approve: the running gateway's admin API.
  mcpgw::app::AdminArgs admin;
  std::string admin_config;
  auto admin_options = [&](CLI::App* c) {
    c->add_option("--url", admin.url, "The gateway (default: gateway.listen of --config, or "
                                      "http://127.0.0.1:8080)");
    c->add_option("-c,--config", admin_config, "Read the gateway's address from this config");
    c->add_option("--token-file", admin.token_file,
                  "A file holding the admin token (default: the MCPGW_ADMIN_TOKEN variable)");
    c->add_flag("--json", admin.json, "Print the API's JSON answer");
  };
  auto* approvals_cmd = app.add_subcommand("approvals", "Calls held by the security gate for "
                                                        "an administrator (list, approve, deny)");
  approvals_cmd->require_subcommand(1);
  auto* apl = approvals_cmd->add_subcommand("list", "Calls waiting for approval");
  admin_options(apl);
  std::vector<CLI::App*> decisions;
  for (auto [name, help] : {std::pair{"approve", "Let a held call through"},
                            std::pair{"deny", "Refuse a held call"}}) {
    auto* sub = approvals_cmd->add_subcommand(name, help);
    sub->add_option("id", admin.id, "The approval's id")->required();
    admin_options(sub);
    decisions.push_back(sub);
  }
  auto* tools_cmd = app.add_subcommand("tools", "Pinned tool definitions and the quarantine "
                                                "(list, approve)");
  tools_cmd->require_subcommand(1);
  auto* tl = tools_cmd->add_subcommand("list", "Pinned and quarantined tools");
  admin_options(tl);
  auto* ta = tools_cmd->add_subcommand("approve", "Accept a quarantined tool's new definition");
  ta->add_option("server", admin.server, "The server's name")->required();
  ta->add_option("tool", admin.tool, "The tool's name on that server (without the prefix)")
      ->required();
  admin_options(ta);

  std::string check_path;
  bool no_start = false;
  auto* check = app.add_subcommand("check-config",
                                   "Validate a config file and print what would be served");
  check->add_option("config", check_path, "Config file")->required();
  check->add_flag("--no-start", no_start,
                  "Only validate; do not start the servers to list their tools");

  CLI11_PARSE(app, argc, argv);

  mcpgw::config::Config cfg;
  if (*serve) {
    if (!load(config_path, cfg)) {
      return 2;
    }
    if (!listen.empty() &&
        !mcpgw::config::parse_listen(listen, cfg.gateway.listen_host, cfg.gateway.listen_port)) {
      fmt::print(stderr, "error: --listen: expected HOST:PORT, got \"{}\"\n", listen);
      return 2;
    }
    if (!log_level.empty()) {
      cfg.gateway.log_level = log_level;
    }
    if (!auth_mode.empty()) {
      if (auto why = mcpgw::config::check_auth_mode(auth_mode); !why.empty()) {
        fmt::print(stderr, "error: --auth: {}\n", why);
        return 2;
      }
      cfg.gateway.auth.mode = auth_mode;
      cfg.gateway.auth.mode_set = true;
      if (auto why = mcpgw::config::check_auth(cfg.gateway.auth); !why.empty()) {
        fmt::print(stderr, "error: --auth: {}\n", why);
        return 2;
      }
    }
    if (!store_path.empty()) {
      cfg.gateway.auth.store = store_path;
      if (!cfg.gateway.audit.store_set) {
        cfg.gateway.audit.store = mcpgw::config::store_beside(store_path, "audit");
      }
      cfg.gateway.security.pin_store = mcpgw::config::store_beside(store_path, "pins");
    }
    if (!mcpgw::log::init(cfg.gateway.log_level)) {
      fmt::print(stderr, "error: unknown log level \"{}\"\n", cfg.gateway.log_level);
      return 2;
    }
    return mcpgw::app::serve(std::move(cfg));
  }
  if (*keys_cmd) {
    for (auto* sub : {kc, kl, kr}) {
      if (*sub) {
        keys.action = sub->get_name();
      }
    }
    if (keys.store.empty() && !keys_config.empty()) {
      if (!load(keys_config, cfg)) {
        return 2;
      }
      keys.store = cfg.gateway.auth.store;
    }
    if (keys.store.empty()) {
      keys.store = "mcpgw.db";
    }
    return mcpgw::app::keys_command(keys);
  }
  if (*audit_cmd) {
    audit.action = *at ? "tail" : "query";
    if (audit.store.empty() && !audit_config.empty()) {
      if (!load(audit_config, cfg)) {
        return 2;
      }
      audit.store = cfg.gateway.audit.store;
    }
    if (audit.store.empty()) {
      audit.store = "mcpgw.audit.db";
    }
    return mcpgw::app::audit_command(audit);
  }
  if (*approvals_cmd || *tools_cmd) {
    admin.command = *approvals_cmd ? "approvals" : "tools";
    for (auto* sub : {apl, decisions[0], decisions[1], tl, ta}) {
      if (*sub) {
        admin.action = sub->get_name();
      }
    }
    if (admin.url.empty()) {
      admin.url = "http://127.0.0.1:8080";
      if (!admin_config.empty()) {
        if (!load(admin_config, cfg)) {
          return 2;
        }
        const auto& host = cfg.gateway.listen_host;
        const bool any = host == "0.0.0.0" || host == "::";
        const std::string h = any ? "127.0.0.1" : host;
        admin.url = fmt::format("http://{}:{}", h.find(':') != std::string::npos ? "[" + h + "]" : h,
                                cfg.gateway.listen_port);
        admin.token_env = cfg.gateway.security.admin_token_env;
        if (admin.token_file.empty()) {
          admin.token_file = cfg.gateway.security.admin_token_file;
        }
      }
    }
    return mcpgw::app::admin_command(admin);
  }
  if (*check) {
    if (!load(check_path, cfg)) {
      return 2;
    }
    mcpgw::log::init(no_start ? "warn" : "error");
    return mcpgw::app::check_config(cfg, !no_start);
  }
  return 0;
}
