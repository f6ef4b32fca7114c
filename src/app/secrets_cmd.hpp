#pragma once
// `mcpgw secrets set|list|delete`: each user's own values in the vault (gateway.vault), read
// by servers whose env says `${user:NAME}`.
#include "app/subcommand.hpp"

namespace mcpgw::app {

SubcommandPtr make_secrets_command();

}  // namespace mcpgw::app
