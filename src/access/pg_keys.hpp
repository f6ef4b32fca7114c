#pragma once
// API keys in PostgreSQL, shared by the replicas (docs/scale-out.md). Table mcpgw_api_keys holds
// what the SQLite store holds; a trigger NOTIFYs channel "mcpgw_keys" on every change, whoever
// made it. Each replica's PgKeySource keeps a connection that LISTENs on the channel and reads
// the keys again when told (and every 30 s, which also finds a dead connection): a key revoked
// anywhere is refused by every replica within a round trip. The request path never waits for
// PostgreSQL; it checks against the keys in memory.
#include "access/key_store.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::store {
class PgBlocking;
class PgFollower;
}  // namespace mcpgw::store

namespace mcpgw::access {

/// The migration script of the keys' schema (store/migrate.hpp).
const std::string& pg_keys_schema();

/// Follows the keys in a PostgreSQL store, on the event loop.
class PgKeySource : public std::enable_shared_from_this<PgKeySource> {
 public:
  using Map = std::map<std::string, KeyRecord, std::less<>>;  ///< by digest
  static std::shared_ptr<PgKeySource> create(boost::asio::any_io_executor ex, std::string url,
                                             std::chrono::milliseconds timeout);
  /// Connects, brings the schema up to date, listens and reads the keys; and again, after a
  /// pause, whenever the connection is lost.
  void start();
  void stop();

  /// The keys read last; null before the first read.
  const Map* keys() const noexcept { return loaded_ ? &keys_ : nullptr; }
  /// Connected, listening, and the keys read since the connection was made.
  bool up() const noexcept;
  std::uint64_t generation() const noexcept { return generation_; }
  /// "postgres://…/db: up (12 keys)" or "…: down: why"; the password is hidden.
  std::string describe() const;

 private:
  PgKeySource(boost::asio::any_io_executor ex, std::string url, std::chrono::milliseconds timeout);
  using Rows = std::vector<std::vector<std::optional<std::string>>>;
  void take(Rows&& rows);

  boost::asio::any_io_executor ex_;
  std::string url_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<store::PgFollower> follower_;
  Map keys_;
  bool loaded_ = false;
  std::uint64_t generation_ = 0;
};

/// `mcpgw keys` against a PostgreSQL store.
class PgKeyAdmin : public KeyAdmin {
 public:
  static std::unique_ptr<PgKeyAdmin> open(const std::string& url, std::string& error);
  ~PgKeyAdmin() override;
  std::optional<std::string> create(KeyRecord record, std::string& error) override;
  std::vector<KeyRecord> list(std::string& error) override;
  bool revoke(const std::string& name, std::string& error) override;

 private:
  explicit PgKeyAdmin(std::unique_ptr<store::PgBlocking> pg);
  std::unique_ptr<store::PgBlocking> pg_;
};

}  // namespace mcpgw::access
