#include "access/vault.hpp"
#include "config/config.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <openssl/crypto.h>

#include <cstdlib>

namespace mcpgw::access {

namespace {

/// What a value is sealed for: its row, so that it opens in no other.
std::string purpose(const std::string& principal, const std::string& name) {
  return fmt::format("mcpgw vault\n{}\n{}\n{}", principal.size(), principal, name);
}

}  // namespace

std::optional<std::vector<Sealer::Key>> vault_keys(const std::string& key_file,
                                                   const std::string& key_env,
                                                   std::string& error) {
  if (!key_file.empty()) {
    auto keys = Sealer::read_keys(key_file, error);
    if (!keys) {
      error = "gateway.vault.keyFile: " + error;
    }
    return keys;
  }
  const char* text = key_env.empty() ? nullptr : std::getenv(key_env.c_str());
  if (text == nullptr || *text == '\0') {
    error = fmt::format("no vault key: set gateway.vault.keyFile to a file of keys, or the "
                        "environment variable {} (64 hex digits: openssl rand -hex 32)",
                        key_env.empty() ? "MCPGW_VAULT_KEY" : key_env);
    return std::nullopt;
  }
  return Sealer::parse_keys(text, "the environment variable " + key_env, error);
}

bool Vault::set(const std::string& principal, const std::string& name, std::string_view value,
                std::string& error) {
  if (principal.empty()) {
    error = "a vault entry needs a user";
    return false;
  }
  if (error = config::check_user_secret_name(name); !error.empty()) {
    return false;
  }
  return store_->put(principal, name, sealer_.seal(value, purpose(principal, name)), error);
}

bool Vault::set_own(const std::string& principal, const std::string& name,
                    std::string_view value, std::string& error) {
  if (principal.empty() || name.find(':') == std::string::npos) {
    error = "the gateway's own vault entries need a user and a name with a ':'";
    return false;
  }
  return store_->put(principal, name, sealer_.seal(value, purpose(principal, name)), error);
}

std::optional<std::string> Vault::get(const std::string& principal, const std::string& name,
                                      std::string& error) {
  auto sealed = store_->get(principal, name, error);
  if (!sealed) {
    return std::nullopt;
  }
  auto value = sealer_.open(*sealed, purpose(principal, name));
  if (!value) {
    error = fmt::format("the vault entry \"{}\" of {} does not open with the vault's keys (the "
                        "key was changed, or the row was altered)", name, principal);
  }
  return value;
}

std::unique_ptr<Vault> open_vault(const config::VaultConfig& cfg, const std::string& store,
                                  std::chrono::milliseconds timeout, std::string& error) {
  auto keys = vault_keys(cfg.key_file, cfg.key_env, error);
  if (!keys) {
    return nullptr;
  }
  auto backend = open_vault_store(store.empty() ? cfg.store : store, timeout, error);
  if (!backend) {
    return nullptr;
  }
  return std::make_unique<Vault>(Sealer(std::move(*keys)), std::move(backend));
}

asio::awaitable<VaultLookup> VaultReader::read(std::string principal,
                                               std::vector<std::string> names) {
  // Blocking reads run on the pool's thread; co_spawn's completion resumes this coroutine on
  // its own executor.
  auto work = [this, principal = std::move(principal),
               names = std::move(names)]() -> asio::awaitable<VaultLookup> {
    VaultLookup out;
    for (const auto& name : names) {
      std::string error;
      auto value = vault_->get(principal, name, error);
      if (!error.empty()) {
        out = VaultLookup{};
        out.error = std::move(error);
        break;
      }
      if (value) {
        out.values.emplace(name, std::move(*value));
      } else {
        out.missing.push_back(name);
      }
    }
    co_return out;
  };
  co_return co_await asio::co_spawn(pool_, std::move(work), asio::use_awaitable);
}

asio::awaitable<std::string> VaultReader::write(std::string principal, std::string name,
                                                std::optional<std::string> value) {
  auto work = [this, principal = std::move(principal), name = std::move(name),
               value = std::move(value)]() mutable -> asio::awaitable<std::string> {
    std::string error;
    if (value) {
      vault_->set_own(principal, name, *value, error);
      OPENSSL_cleanse(value->data(), value->size());
    } else {
      vault_->remove(principal, name, error);
    }
    co_return error;
  };
  co_return co_await asio::co_spawn(pool_, std::move(work), asio::use_awaitable);
}

asio::awaitable<std::string> VaultReader::set_value(std::string principal, std::string name,
                                                    std::string value) {
  auto work = [this, principal = std::move(principal), name = std::move(name),
               value = std::move(value)]() mutable -> asio::awaitable<std::string> {
    std::string error;
    vault_->set(principal, name, value, error);
    OPENSSL_cleanse(value.data(), value.size());
    co_return error;
  };
  co_return co_await asio::co_spawn(pool_, std::move(work), asio::use_awaitable);
}

}  // namespace mcpgw::access
