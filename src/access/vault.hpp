#pragma once
// The vault: each user's own secrets (a GitHub token for a stdio server's env), kept per
// principal and sealed with AES-256-GCM under the vault key, so the store never holds a value
// in clear. The principal and the entry's name are sealed in as associated data: a value moved
// to another user's row does not open. `mcpgw secrets` writes through `Vault`; the gateway
// reads through `VaultReader`, on a thread of its own, so the event loop never waits on the
// store.
#include "common/sealer.hpp"
#include "config/config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::access {

namespace asio = boost::asio;

struct VaultEntry {
  std::string principal, name;
  std::int64_t updated_at = 0;  ///< unix seconds
};

/// Where the sealed values are kept. Blocking: the command line, or the reader's thread.
class VaultStore {
 public:
  virtual ~VaultStore() = default;
  virtual bool put(const std::string& principal, const std::string& name,
                   const std::string& sealed, std::string& error) = 0;
  /// The sealed value; nullopt when there is none (`error` empty) or on failure (`error` set).
  virtual std::optional<std::string> get(const std::string& principal, const std::string& name,
                                         std::string& error) = 0;
  /// The entries of `principal`, or of everyone when it is empty.
  virtual std::vector<VaultEntry> list(const std::string& principal, std::string& error) = 0;
  /// False when there was no such entry (`error` empty) or on failure (`error` set).
  virtual bool remove(const std::string& principal, const std::string& name,
                      std::string& error) = 0;
};

/// The store at `store`: a postgres:// URL, or a SQLite file. Null with `error`.
std::unique_ptr<VaultStore> open_vault_store(const std::string& store,
                                             std::chrono::milliseconds timeout,
                                             std::string& error);

/// The vault key ring: read from `key_file` when it is given, else from the environment
/// variable `key_env`. nullopt with `error` when neither holds a key.
std::optional<std::vector<Sealer::Key>> vault_keys(const std::string& key_file,
                                                   const std::string& key_env,
                                                   std::string& error);

class Vault {
 public:
  Vault(Sealer sealer, std::unique_ptr<VaultStore> store)
      : sealer_(std::move(sealer)), store_(std::move(store)) {}

  bool set(const std::string& principal, const std::string& name, std::string_view value,
           std::string& error);
  /// nullopt with `error` empty when there is no entry; with `error` when the store failed or
  /// the value does not open with the vault's keys.
  std::optional<std::string> get(const std::string& principal, const std::string& name,
                                 std::string& error);
  std::vector<VaultEntry> list(const std::string& principal, std::string& error) {
    return store_->list(principal, error);
  }
  bool remove(const std::string& principal, const std::string& name, std::string& error) {
    return store_->remove(principal, name, error);
  }
  /// Stores one of the gateway's own entries (a user's OAuth tokens, "oauth:SERVER"), whose
  /// names the users' `${user:NAME}` cannot take.
  bool set_own(const std::string& principal, const std::string& name, std::string_view value,
               std::string& error);
  /// Seals state the gateway hands out and takes back (consent links) with the vault's keys.
  const Sealer& sealer() const noexcept { return sealer_; }

 private:
  Sealer sealer_;
  std::unique_ptr<VaultStore> store_;
};

/// The vault of gateway.vault: its keys and its store (`store` overrides the configured one
/// when not empty). Null with `error`.
std::unique_ptr<Vault> open_vault(const config::VaultConfig& cfg, const std::string& store,
                                  std::chrono::milliseconds timeout, std::string& error);

/// One user's values for the names a server needs.
struct VaultLookup {
  std::map<std::string, std::string> values;
  std::vector<std::string> missing;  ///< names the user has no entry for
  std::string error;                 ///< the store could not be read (nothing else is set)
};

/// The gateway's side of the vault: each read runs on the reader's own thread and resumes the
/// caller on its executor. Lives until the event loop has stopped.
class VaultReader {
 public:
  explicit VaultReader(std::unique_ptr<Vault> vault) : vault_(std::move(vault)) {}
  ~VaultReader() { pool_.join(); }
  VaultReader(const VaultReader&) = delete;
  VaultReader& operator=(const VaultReader&) = delete;

  asio::awaitable<VaultLookup> read(std::string principal, std::vector<std::string> names);
  /// Stores or (`value` nullopt) removes one of the gateway's own entries; the error, or empty.
  asio::awaitable<std::string> write(std::string principal, std::string name,
                                     std::optional<std::string> value);
  /// Stores a user's own value for `${user:NAME}`, as `mcpgw secrets set` does (the name is
  /// checked); the error, or empty.
  asio::awaitable<std::string> set_value(std::string principal, std::string name,
                                         std::string value);
  const Sealer& sealer() const noexcept { return vault_->sealer(); }

 private:
  std::unique_ptr<Vault> vault_;
  asio::thread_pool pool_{1};
};

}  // namespace mcpgw::access
