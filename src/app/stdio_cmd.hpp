#pragma once
#include "app/subcommand.hpp"

namespace mcpgw::app {

/// `mcpgw stdio --url URL [--header "Name: value"]...`: the stdio bridge (client/bridge.hpp).
SubcommandPtr make_stdio_command();

}  // namespace mcpgw::app
