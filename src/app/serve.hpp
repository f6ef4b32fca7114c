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

}  // namespace mcpgw::app
