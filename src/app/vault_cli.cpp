#include "app/vault_cli.hpp"

#include <fmt/format.h>

namespace mcpgw::app {

std::optional<VaultSetup> vault_setup(const std::string& config_path, const std::string& store) {
  VaultSetup out;
  if (!config_path.empty()) {
    config::Diagnostics diag;
    out.config = config::load_file(config_path, diag);
    for (const auto& e : diag.errors) {
      fmt::print(stderr, "error: {}\n", e);
    }
    if (!out.config) {
      return std::nullopt;
    }
    out.vault = out.config->gateway.vault;
    out.timeout = out.config->gateway.auth.store_timeout;
  }
  out.store = !store.empty()             ? store
              : !out.vault.store.empty() ? out.vault.store
                                         : std::string("mcpgw.vault.db");
  return out;
}

int fail(const std::string& error) {
  fmt::print(stderr, "error: {}\n", error);
  return 1;
}

}  // namespace mcpgw::app
