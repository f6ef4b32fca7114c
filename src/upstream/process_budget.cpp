#include "upstream/process_budget.hpp"

#include <fmt/format.h>

namespace mcpgw::upstream {

bool ProcessBudget::acquire(const std::string& server, std::size_t server_max,
                            std::size_t global_max, std::string& why) {
  if (live_ >= global_max) {
    why = fmt::format("cannot start another process: limits.maxProcesses ({}) are running",
                      global_max);
    return false;
  }
  auto& n = per_server_[server];
  if (server_max != 0 && n >= server_max) {
    why = fmt::format("cannot start another process: gateway.servers.{}.maxProcesses ({}) are "
                      "running", server, server_max);
    return false;
  }
  ++n;
  ++live_;
  return true;
}

void ProcessBudget::release(const std::string& server) noexcept {
  auto it = per_server_.find(server);
  if (it == per_server_.end() || it->second == 0) {
    return;
  }
  --it->second;
  --live_;
}

ProcessBudget& ProcessBudget::instance() {
  static ProcessBudget budget;
  return budget;
}

}  // namespace mcpgw::upstream
