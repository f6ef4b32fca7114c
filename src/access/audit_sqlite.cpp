// The audit trail in a SQLite file: batched multi-row inserts in one transaction.
#include "access/audit_sink.hpp"

#include "access/principal.hpp"
#include "access/sqlite_store.hpp"
#include "common/text.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>

namespace mcpgw::access {

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, principal TEXT NOT NULL, session TEXT,"
    " client TEXT, server TEXT, method TEXT NOT NULL, target TEXT, args_digest TEXT,"
    " arguments TEXT, outcome TEXT NOT NULL, detail TEXT, latency_us INTEGER,"
    " bytes_in INTEGER, bytes_out INTEGER, upstream TEXT);"
    "CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts_ms);";

constexpr int kColumns = 15;
constexpr std::size_t kRowsPerInsert = 16;

/// A trail written before the column `upstream` existed gets it (older rows: NULL).
bool add_upstream_column(sqlite3* db, std::string& error) {
  sqlite3_stmt* st = nullptr;
  bool has = false;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('audit') WHERE name = 'upstream'",
                         -1, &st, nullptr) == SQLITE_OK) {
    has = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  char* msg = nullptr;
  if (!has && sqlite3_exec(db, "ALTER TABLE audit ADD COLUMN upstream TEXT", nullptr, nullptr,
                           &msg) != SQLITE_OK) {
    error = fmt::format("audit store: cannot add the column upstream: {}", msg ? msg : "?");
    sqlite3_free(msg);
    return false;
  }
  return true;
}

sqlite3* open_db(const std::string& path, std::string& error) {
  // Only the writer thread uses the connection: SQLite's own mutexes are not needed.
  sqlite3* db = open_sqlite(path, kSchema, "audit store", 5000, error, SQLITE_OPEN_NOMUTEX);
  if (db != nullptr && !add_upstream_column(db, error)) {
    sqlite3_close(db);
    return nullptr;
  }
  return db;
}

std::string insert_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO audit (ts_ms, principal, session, client, server, method, target,"
      " args_digest, arguments, outcome, detail, latency_us, bytes_in, bytes_out, upstream)"
      " VALUES ";
  for (std::size_t i = 0; i < rows; ++i) {
    sql += i == 0 ? "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
  }
  return sql;
}

/// Binds `r` to the row whose first parameter is `first` (1-based).
void bind_row(sqlite3_stmt* st, int first, const AuditRecord& r) {
  auto text = [&](int i, const std::string& v) {
    sqlite3_bind_text(st, first + i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  };
  sqlite3_bind_int64(st, first, r.ts_ms);
  text(1, r.principal);
  text(2, r.session);
  text(3, r.client);
  text(4, r.server);
  text(5, r.method);
  text(6, r.target);
  text(7, r.args_digest);
  if (r.arguments.empty()) {
    sqlite3_bind_null(st, first + 8);
  } else {
    text(8, r.arguments);
  }
  text(9, r.outcome);
  text(10, r.detail);
  sqlite3_bind_int64(st, first + 11, r.latency_us);
  sqlite3_bind_int64(st, first + 12, r.bytes_in);
  sqlite3_bind_int64(st, first + 13, r.bytes_out);
  if (r.upstream.empty()) {
    sqlite3_bind_null(st, first + 14);
  } else {
    text(14, r.upstream);
  }
}

void step(sqlite3* db, sqlite3_stmt* st) {
  if (sqlite3_step(st) != SQLITE_DONE) {
    spdlog::error("audit: cannot write rows: {}", sqlite3_errmsg(db));
  }
  sqlite3_reset(st);
}

class SqliteSink : public AuditSink {
 public:
  SqliteSink(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  ~SqliteSink() override {
    sqlite3_finalize(insert_many_);
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }

  bool prepare(std::string& error) {
    if (sqlite3_prepare_v2(db_, insert_sql(1).c_str(), -1, &insert_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, insert_sql(kRowsPerInsert).c_str(), -1, &insert_many_,
                           nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

  /// A row that cannot be written is logged and left (a disk that refuses one row would refuse
  /// it forever): the batch counts as written.
  bool write(const std::vector<AuditRecord>& batch, std::string& /*error*/) override {
    sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
    std::size_t i = 0;
    for (; batch.size() - i >= kRowsPerInsert; i += kRowsPerInsert) {
      for (std::size_t k = 0; k < kRowsPerInsert; ++k) {
        bind_row(insert_many_, static_cast<int>(k) * kColumns + 1, batch[i + k]);
      }
      step(db_, insert_many_);
    }
    for (; i < batch.size(); ++i) {
      bind_row(insert_, 1, batch[i]);
      step(db_, insert_);
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      spdlog::error("audit: commit failed: {}", sqlite3_errmsg(db_));
    }
    return true;
  }

  std::vector<AuditRecord> newest(std::size_t n) override {
    AuditQuery q;
    q.limit = n;
    std::string ignored;
    return query_audit_sqlite(path_, q, ignored).value_or(std::vector<AuditRecord>{});
  }

 private:
  std::string path_;
  sqlite3* db_;
  sqlite3_stmt* insert_ = nullptr;       ///< one row
  sqlite3_stmt* insert_many_ = nullptr;  ///< kRowsPerInsert rows: one statement's overhead for all
};

}  // namespace

std::unique_ptr<AuditSink> sqlite_audit_sink(const std::string& path, std::string& error) {
  sqlite3* db = open_db(path, error);
  if (db == nullptr) {
    return nullptr;
  }
  auto sink = std::make_unique<SqliteSink>(path, db);
  if (!sink->prepare(error)) {
    return nullptr;
  }
  return sink;
}

std::optional<std::vector<AuditRecord>> query_audit_sqlite(const std::string& path,
                                                           const AuditQuery& q,
                                                           std::string& error) {
  sqlite3* db = open_db(path, error);
  if (db == nullptr) {
    return std::nullopt;
  }
  std::string sql =
      "SELECT ts_ms, principal, session, client, server, method, target, args_digest, arguments,"
      " outcome, detail, latency_us, bytes_in, bytes_out, upstream FROM audit WHERE ts_ms >= ?";
  if (!q.principal.empty()) {
    sql += " AND principal = ?";
  }
  if (!q.outcome.empty()) {
    sql += " AND outcome = ?";
  }
  sql += q.limit > 0 ? fmt::format(" ORDER BY id DESC LIMIT {}", q.limit) : " ORDER BY id";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    error = sqlite3_errmsg(db);
    sqlite3_close(db);
    return std::nullopt;
  }
  int i = 1;
  sqlite3_bind_int64(st, i++, q.since_ms);
  if (!q.principal.empty()) {
    sqlite3_bind_text(st, i++, q.principal.c_str(), -1, SQLITE_TRANSIENT);
  }
  if (!q.outcome.empty()) {
    sqlite3_bind_text(st, i++, q.outcome.c_str(), -1, SQLITE_TRANSIENT);
  }
  auto col = [&](int c) {
    const auto* p = sqlite3_column_text(st, c);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  };
  std::vector<AuditRecord> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    AuditRecord r;
    r.ts_ms = sqlite3_column_int64(st, 0);
    r.principal = col(1);
    r.session = col(2);
    r.client = col(3);
    r.server = col(4);
    r.method = col(5);
    r.target = col(6);
    r.args_digest = col(7);
    r.arguments = col(8);
    r.outcome = col(9);
    r.detail = col(10);
    r.latency_us = sqlite3_column_int64(st, 11);
    r.bytes_in = sqlite3_column_int64(st, 12);
    r.bytes_out = sqlite3_column_int64(st, 13);
    r.upstream = col(14);
    if (!q.tool.empty() && !glob_match(q.tool, r.target)) {
      continue;
    }
    rows.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (q.limit > 0) {
    std::reverse(rows.begin(), rows.end());
  }
  return rows;
}

}  // namespace mcpgw::access
