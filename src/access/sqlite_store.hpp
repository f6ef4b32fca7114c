#pragma once
// Opening one of the gateway's SQLite files (keys, audit, vault): created if missing, WAL mode,
// a busy timeout, and the schema applied; and the statements run on them.
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace mcpgw::access {

/// Null with `error` ("cannot open the key store …: why") on failure. `flags` are added to
/// SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE.
sqlite3* open_sqlite(const std::string& path, const char* schema, const char* what,
                     int busy_ms, std::string& error, int flags = 0);

/// A prepared statement, finalized when it goes out of scope.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  int step() { return sqlite3_step(stmt_); }
  void integer(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void text(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  template <class T>
  void opt(int i, const std::optional<T>& v) {
    if (!v) {
      sqlite3_bind_null(stmt_, i);
    } else if constexpr (std::is_floating_point_v<T>) {
      sqlite3_bind_double(stmt_, i, *v);
    } else {
      sqlite3_bind_int64(stmt_, i, *v);
    }
  }
  std::string column_text(int i) {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }
  std::optional<std::int64_t> column_int(int i) {
    if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) {
      return std::nullopt;
    }
    return sqlite3_column_int64(stmt_, i);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

}  // namespace mcpgw::access
