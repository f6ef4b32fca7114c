#pragma once
// `mcpgw probe URL`: which transport, headers and endpoint work for an MCP server.
#include "app/subcommand.hpp"

namespace mcpgw::app {

SubcommandPtr make_probe_command();

}  // namespace mcpgw::app
