#pragma once
#include <spdlog/spdlog.h>

#include <string_view>

namespace mcpgw::log {

/// Configures the process logger: stderr, one line per event, given level name.
/// Returns false if the level name is unknown.
bool init(std::string_view level);

}  // namespace mcpgw::log
