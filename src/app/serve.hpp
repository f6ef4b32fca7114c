#pragma once
#include "config/config.hpp"

#include <functional>
#include <string>
#include <vector>
#include <optional>

namespace mcpgw::app {

/// Reads the configuration again, for a reload; nullopt with `error` when it cannot.
using ConfigSource = std::function<std::optional<config::Config>(std::string& error)>;

/// `mcpgw serve`: runs the gateway until SIGINT/SIGTERM; SIGHUP reloads the configuration
/// from `source` (as do gateway.watch on `path` and the admin API). Returns the process exit
/// code.
int serve(config::Config cfg, const std::string& path, ConfigSource source);

/// `mcpgw check-config`: validates, prints what would be served; with `start`, also starts
/// the servers and lists the names clients would see. Returns the process exit code.
int check_config(const config::Config& cfg, bool start);

struct KeysArgs {
  std::string action;  ///< create, list, revoke
  std::string store;   ///< SQLite file
  std::string name;
  std::string servers, tools, deny_tools, expires, rate;
  /// The servers of the config the command was given (--config); `servers` must name only
  /// these. Not checked when no config was given.
  std::optional<std::vector<std::string>> known_servers;
};

/// `mcpgw keys create|list|revoke`. Returns the process exit code.
int keys_command(const KeysArgs& args);

struct AuditArgs {
  std::string action;  ///< tail, query
  std::string store;
  std::size_t lines = 20;
  std::string since, key, tool, outcome;
  bool json = false;
};

/// `mcpgw audit tail|query`. Returns the process exit code.
int audit_command(const AuditArgs& args);

}  // namespace mcpgw::app

namespace mcpgw::app {

struct AdminArgs {
  std::string command;  ///< approvals, tools, reload
  std::string action;   ///< list, approve, deny
  std::string id;       ///< an approval's id
  std::string server, tool;
  std::string url;      ///< the gateway's base URL
  std::string token_env = "MCPGW_ADMIN_TOKEN";
  std::string token_file;
  bool json = false;
};

/// `mcpgw approvals list|approve|deny` and `mcpgw tools list|approve`: the running gateway's
/// admin API, with the admin token. Returns the process exit code.
int admin_command(const AdminArgs& args);

}  // namespace mcpgw::app
