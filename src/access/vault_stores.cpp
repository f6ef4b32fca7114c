// The vault's stores: a SQLite file for one replica, or a PostgreSQL table the replicas share.
// Each holds sealed values only (access/vault.hpp).
#include "access/sqlite_store.hpp"
#include "access/vault.hpp"
#include "store/migrate.hpp"
#include "store/postgres.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <ctime>

namespace mcpgw::access {

namespace {

std::int64_t now_s() { return static_cast<std::int64_t>(std::time(nullptr)); }

constexpr const char* kSqliteSchema =
    "CREATE TABLE IF NOT EXISTS user_secrets (principal TEXT NOT NULL, name TEXT NOT NULL,"
    " value TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (principal, name));";

/// A prepared statement, finalized on every path.
class SqliteVault final : public VaultStore {
 public:
  SqliteVault(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteVault() override { sqlite3_close(db_); }
  SqliteVault(const SqliteVault&) = delete;
  SqliteVault& operator=(const SqliteVault&) = delete;

  bool put(const std::string& principal, const std::string& name, const std::string& sealed,
           std::string& error) override {
    Stmt st(db_, "INSERT INTO user_secrets (principal, name, value, updated_at)"
                 " VALUES (?, ?, ?, ?) ON CONFLICT (principal, name) DO UPDATE SET"
                 " value = excluded.value, updated_at = excluded.updated_at");
    if (!st.ok()) {
      return fail(error);
    }
    st.text(1, principal);
    st.text(2, name);
    st.text(3, sealed);
    st.integer(4, now_s());
    return st.step() == SQLITE_DONE || fail(error);
  }

  std::optional<std::string> get(const std::string& principal, const std::string& name,
                                 std::string& error) override {
    Stmt st(db_, "SELECT value FROM user_secrets WHERE principal = ? AND name = ?");
    if (!st.ok()) {
      fail(error);
      return std::nullopt;
    }
    st.text(1, principal);
    st.text(2, name);
    const int rc = st.step();
    if (rc == SQLITE_ROW) {
      return st.column_text(0);
    }
    if (rc != SQLITE_DONE) {
      fail(error);
    }
    return std::nullopt;
  }

  std::vector<VaultEntry> list(const std::string& principal, std::string& error) override {
    std::vector<VaultEntry> out;
    Stmt st(db_, "SELECT principal, name, updated_at FROM user_secrets"
                 " WHERE ?1 = '' OR principal = ?1 ORDER BY principal, name");
    if (!st.ok()) {
      fail(error);
      return out;
    }
    st.text(1, principal);
    int rc = SQLITE_ROW;
    while ((rc = st.step()) == SQLITE_ROW) {
      out.push_back({st.column_text(0), st.column_text(1), st.column_int(2).value_or(0)});
    }
    if (rc != SQLITE_DONE) {
      fail(error);
    }
    return out;
  }

  bool remove(const std::string& principal, const std::string& name,
              std::string& error) override {
    Stmt st(db_, "DELETE FROM user_secrets WHERE principal = ? AND name = ?");
    if (!st.ok()) {
      return fail(error);
    }
    st.text(1, principal);
    st.text(2, name);
    if (st.step() != SQLITE_DONE) {
      return fail(error);
    }
    return sqlite3_changes(db_) > 0;
  }

 private:
  bool fail(std::string& error) const {
    error = fmt::format("the vault {}: {}", path_, sqlite3_errmsg(db_));
    return false;
  }

  sqlite3* db_;
  std::string path_;
};

const std::string& pg_vault_schema() {
  static const std::string script = store::migration_script(
      "vault",
      {{1,
        "    CREATE TABLE mcpgw_user_secrets (principal text NOT NULL, name text NOT NULL,"
        " value text NOT NULL, updated_at bigint NOT NULL, PRIMARY KEY (principal, name));"}});
  return script;
}

/// PostgreSQL through a blocking connection, made again when it was lost.
class PgVault final : public VaultStore {
 public:
  PgVault(std::string url, int timeout_s, std::unique_ptr<store::PgBlocking> pg)
      : url_(std::move(url)), timeout_s_(timeout_s), pg_(std::move(pg)) {}

  bool put(const std::string& principal, const std::string& name, const std::string& sealed,
           std::string& error) override {
    return run("INSERT INTO mcpgw_user_secrets (principal, name, value, updated_at)"
               " VALUES ($1, $2, $3, $4) ON CONFLICT (principal, name) DO UPDATE SET"
               " value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
               {principal, name, sealed, std::to_string(now_s())}, error)
        .has_value();
  }

  std::optional<std::string> get(const std::string& principal, const std::string& name,
                                 std::string& error) override {
    auto r = run("SELECT value FROM mcpgw_user_secrets WHERE principal = $1 AND name = $2",
                 {principal, name}, error);
    if (!r || r->rows.empty() || !r->rows[0][0]) {
      return std::nullopt;
    }
    return *r->rows[0][0];
  }

  std::vector<VaultEntry> list(const std::string& principal, std::string& error) override {
    std::vector<VaultEntry> out;
    auto r = run("SELECT principal, name, updated_at FROM mcpgw_user_secrets"
                 " WHERE $1 = '' OR principal = $1 ORDER BY principal, name",
                 {principal}, error);
    if (r) {
      for (auto& row : r->rows) {
        out.push_back({row[0].value_or(""), row[1].value_or(""),
                       store::column_int(row[2]).value_or(0)});
      }
    }
    return out;
  }

  bool remove(const std::string& principal, const std::string& name,
              std::string& error) override {
    auto r = run("DELETE FROM mcpgw_user_secrets WHERE principal = $1 AND name = $2",
                 {principal, name}, error);
    return r && r->affected > 0;
  }

 private:
  std::optional<store::PgResult> run(const std::string& sql, const store::PgParams& params,
                                     std::string& error) {
    if (!pg_ && !(pg_ = store::PgBlocking::connect(url_, timeout_s_, error))) {
      return std::nullopt;
    }
    auto r = pg_->exec(sql, params);
    if (!r.ok) {
      error = fmt::format("the vault in {}: {}", store::redact_password(url_), r.error);
      pg_.reset();  // connected again on the next call
      return std::nullopt;
    }
    return r;
  }

  std::string url_;
  int timeout_s_;
  std::unique_ptr<store::PgBlocking> pg_;
};

}  // namespace

std::unique_ptr<VaultStore> open_vault_store(const std::string& store,
                                             std::chrono::milliseconds timeout,
                                             std::string& error) {
  const int timeout_s = std::max<int>(1, static_cast<int>((timeout.count() + 999) / 1000));
  if (store::is_postgres_url(store)) {
    auto pg = store::PgBlocking::connect(store, timeout_s, pg_vault_schema(), "vault", error);
    if (!pg) {
      return nullptr;
    }
    return std::make_unique<PgVault>(store, timeout_s, std::move(pg));
  }
  sqlite3* db = open_sqlite(store, kSqliteSchema, "vault", static_cast<int>(timeout.count()),
                            error);
  if (db == nullptr) {
    return nullptr;
  }
  return std::make_unique<SqliteVault>(db, store);
}

}  // namespace mcpgw::access
