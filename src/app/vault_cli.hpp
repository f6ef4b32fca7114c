#pragma once
// What `mcpgw secrets …` and `mcpgw tokens …` share: the vault's settings and store, read from
// a config file when one is given, else their defaults.
#include "config/config.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace mcpgw::app {

struct VaultSetup {
  std::optional<config::Config> config;  ///< the whole config, when a file was given
  config::VaultConfig vault;             ///< gateway.vault, or the defaults
  std::chrono::milliseconds timeout{2000};
  std::string store;  ///< `store` when given, else gateway.vault's, else mcpgw.vault.db
};

/// The setup of the config file `config_path` (none when empty) with `store` overriding its
/// store; nullopt (the errors printed) when the file cannot be read.
std::optional<VaultSetup> vault_setup(const std::string& config_path, const std::string& store);

/// Prints "error: …" to stderr; returns the exit code 1.
int fail(const std::string& error);

}  // namespace mcpgw::app
