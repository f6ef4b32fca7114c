#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace mcpgw::log {

bool init(std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return false;
  }
  auto logger = spdlog::stderr_color_mt("mcpgw");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace mcpgw::log
