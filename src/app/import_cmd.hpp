#pragma once
// `mcpgw import litellm FILE [-o OUT] [--keep-litellm-names]`: another gateway's config as
// mcpgw's JSON config.
#include "app/subcommand.hpp"

namespace mcpgw::app {

SubcommandPtr make_import_command();

}  // namespace mcpgw::app
