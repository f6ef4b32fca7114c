#pragma once
#include "config/config.hpp"

#include <string>

namespace mcpgw::app {

/// `mcpgw serve`: runs the gateway until SIGINT/SIGTERM. Returns the process exit code.
int serve(config::Config cfg);

/// `mcpgw check-config`: validates, prints what would be served; with `start`, also starts
/// the servers and lists the names clients would see. Returns the process exit code.
int check_config(const config::Config& cfg, bool start);

struct KeysArgs {
  std::string action;  ///< create, list, revoke
  std::string store;   ///< SQLite file
  std::string name;
  std::string servers, tools, deny_tools, expires, rate;
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
