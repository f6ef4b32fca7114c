#pragma once
// API keys. Only a SHA-256 digest of each key is stored; the key itself is shown once, when it
// is created. The gateway keeps the keys in memory. In SQLite (WAL mode, one replica) it reloads
// them when the database changes (another process ran `mcpgw keys revoke`); in PostgreSQL
// (replicas, access/pg_keys.hpp) every change is announced to every replica. Either way a
// revocation holds from the next request on, without a restart.
#include "access/principal.hpp"
#include "access/wal_watch.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace mcpgw::access {

struct KeyRecord {
  std::string name;
  std::string prefix;  ///< the first characters of the key, to recognise it in lists
  std::vector<std::string> servers;
  std::vector<std::string> tools;
  std::vector<std::string> deny_tools;
  std::optional<std::int64_t> expires_at;  ///< unix seconds
  std::optional<double> rate_per_min;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> revoked_at;
};

/// unavailable: the keys are in a shared store this replica cannot read now (and
/// gateway.whenStoreDown is "refuse"), so no key can be checked.
enum class KeyCheck { ok, unknown, expired, revoked, unavailable };

/// Creating, listing and revoking keys (`mcpgw keys`), in whichever store holds them.
class KeyAdmin {
 public:
  virtual ~KeyAdmin() = default;
  /// Adds a key; returns the key in clear (the only time it exists), or nullopt with `error`
  /// (a name already in use, a database error).
  virtual std::optional<std::string> create(KeyRecord record, std::string& error) = 0;
  virtual std::vector<KeyRecord> list(std::string& error) = 0;
  /// False (with `error`) if there is no such live key.
  virtual bool revoke(const std::string& name, std::string& error) = 0;
};

/// The store at `store`: a PostgreSQL URL or a SQLite file. Null with `error`.
std::unique_ptr<KeyAdmin> open_key_admin(const std::string& store, std::string& error);

/// A new key for `record`, which it names: sets its prefix and creation time and returns the
/// key in clear. nullopt (with `error`) for a name that cannot be a key's.
std::optional<std::string> new_key(KeyRecord& record, std::string& error);

class PgKeySource;

/// Whether the keys can be checked now, for /readyz.
struct KeyStoreState {
  bool shared = false;  ///< in PostgreSQL
  bool usable = true;
  std::string detail;   ///< the store (password hidden), and why it is not usable
};

/// The last key one connection sent, with its digest: a keep-alive connection that sends the
/// same key again is not hashed again. The key is wiped when the memo forgets it.
class KeyMemo {
 public:
  KeyMemo() = default;
  KeyMemo(const KeyMemo&) = delete;
  KeyMemo& operator=(const KeyMemo&) = delete;
  ~KeyMemo();
  /// The SHA-256 of `key` as hex: remembered when `key` is the last one, else computed.
  const std::string& digest(std::string_view key);

 private:
  std::string key_;
  std::string digest_;
};

/// The keys the gateway checks: a SQLite file it reads itself, or a PostgreSQL store a
/// PgKeySource follows.
class KeyStore : public KeyAdmin {
 public:
  /// Opens (creating if needed) the SQLite store at `path`. Null with `error` on failure.
  static std::unique_ptr<KeyStore> open(const std::string& path, std::string& error);
  /// The keys `source` reads from PostgreSQL. `cached_when_down`: while the store cannot be
  /// read, check against the keys read last (else every check is unavailable).
  static std::unique_ptr<KeyStore> follow(std::shared_ptr<PgKeySource> source,
                                          bool cached_when_down);
  ~KeyStore() override;
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  std::optional<std::string> create(KeyRecord record, std::string& error) override;
  std::vector<KeyRecord> list(std::string& error) override;
  bool revoke(const std::string& name, std::string& error) override;

  /// Hot path: finds the key. `now` in unix seconds. Sets `record` for ok/expired/revoked.
  /// `memo`, when given, spares the digest of a key its connection sent before.
  KeyCheck check(std::string_view key, std::int64_t now, const KeyRecord** record,
                 KeyMemo* memo = nullptr);
  /// Every key the gateway knows (live, expired and revoked), from memory (refreshed first
  /// if another process changed the store), sorted by name: for the dashboard.
  std::vector<KeyRecord> known();
  /// Bumped whenever the keys were reloaded (pointers from check() are then stale).
  std::uint64_t generation() const noexcept;
  KeyStoreState state() const;

 private:
  using Map = std::map<std::string, KeyRecord, std::less<>>;
  explicit KeyStore(sqlite3* db) : db_(db) {}
  bool reload_if_changed();
  bool reload_if_version_changed();
  /// The keys to check against now; null when none can be (a shared store not readable).
  const Map* current();

  sqlite3* db_;
  std::shared_ptr<PgKeySource> source_;  ///< set: the keys are in PostgreSQL
  bool cached_when_down_ = false;
  sqlite3_stmt* data_version_stmt_ = nullptr;  ///< prepared once
  std::unique_ptr<WalWatch> watch_;  ///< commits by any process, seen without a system call
  std::int64_t data_version_ = -1;
  std::uint64_t generation_ = 0;
  Map by_digest_;
};

/// SHA-256 of `data` as lowercase hex (key digests, argument digests, tool pins).
std::string sha256_hex(std::string_view data);

/// "30d", "12h", "90m", "3600s" → seconds; nullopt if malformed.
std::optional<std::int64_t> parse_duration(std::string_view text);
/// "60/min", "10/s", "600/h" → per minute; nullopt if malformed.
std::optional<double> parse_rate(std::string_view text);

}  // namespace mcpgw::access
