#pragma once
// `mcpgw tokens list|revoke`: the users' OAuth tokens for servers with auth "oauth", kept
// sealed in the vault as the entries "oauth:SERVER".
#include "app/subcommand.hpp"

namespace mcpgw::app {

SubcommandPtr make_tokens_command();

}  // namespace mcpgw::app
