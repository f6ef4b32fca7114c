#include "access/audit.hpp"
#include "common/text.hpp"

#include "access/key_store.hpp"
#include "access/principal.hpp"
#include "access/sqlite_store.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace mcpgw::access {

namespace {
constexpr std::size_t kBatch = 512;
constexpr auto kLinger = std::chrono::milliseconds(50);

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, principal TEXT NOT NULL, session TEXT,"
    " client TEXT, server TEXT, method TEXT NOT NULL, target TEXT, args_digest TEXT,"
    " arguments TEXT, outcome TEXT NOT NULL, detail TEXT, latency_us INTEGER,"
    " bytes_in INTEGER, bytes_out INTEGER);"
    "CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts_ms);";

bool secret_name(std::string_view k) {
  const std::string name = lower(k);
  for (const char* s : {"password", "passwd", "secret", "token", "apikey", "api_key", "key",
                        "authorization", "cookie", "credential", "private"}) {
    if (name.find(s) != std::string::npos) {
      return true;
    }
  }
  return false;
}

void redact(boost::json::value& v) {
  if (v.is_object()) {
    for (auto& kv : v.get_object()) {
      if (secret_name(kv.key())) {
        kv.value() = "[redacted]";
      } else {
        redact(kv.value());
      }
    }
  } else if (v.is_array()) {
    for (auto& item : v.get_array()) {
      redact(item);
    }
  }
}

void digest_arguments(AuditRecord& r) {
  if (r.args_text.empty()) {
    return;
  }
  r.args_digest = sha256_hex(r.args_text);
  if (r.keep_arguments) {
    r.arguments = redact_arguments(r.args_text);
  }
}

sqlite3* open_db(const std::string& path, std::string& error) {
  // Only the writer thread uses the connection: SQLite's own mutexes are not needed.
  return open_sqlite(path, kSchema, "audit store", 5000, error, SQLITE_OPEN_NOMUTEX);
}

}  // namespace

struct AuditLog::Db {
  sqlite3* db = nullptr;
  sqlite3_stmt* insert = nullptr;       ///< one row
  sqlite3_stmt* insert_many = nullptr;  ///< kRowsPerInsert rows: one statement's overhead for all
  ~Db() {
    sqlite3_finalize(insert_many);
    sqlite3_finalize(insert);
    sqlite3_close(db);
  }
};

namespace {

constexpr int kColumns = 14;
constexpr std::size_t kRowsPerInsert = 16;

std::string insert_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO audit (ts_ms, principal, session, client, server, method, target,"
      " args_digest, arguments, outcome, detail, latency_us, bytes_in, bytes_out) VALUES ";
  for (std::size_t i = 0; i < rows; ++i) {
    sql += i == 0 ? "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
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
}

void step(sqlite3* db, sqlite3_stmt* st) {
  if (sqlite3_step(st) != SQLITE_DONE) {
    spdlog::error("audit: cannot write rows: {}", sqlite3_errmsg(db));
  }
  sqlite3_reset(st);
}

}  // namespace

void AuditLog::write_batch(Db& d, const std::vector<AuditRecord>& batch) {
  sqlite3_exec(d.db, "BEGIN", nullptr, nullptr, nullptr);
  std::size_t i = 0;
  for (; batch.size() - i >= kRowsPerInsert; i += kRowsPerInsert) {
    for (std::size_t k = 0; k < kRowsPerInsert; ++k) {
      bind_row(d.insert_many, static_cast<int>(k) * kColumns + 1, batch[i + k]);
    }
    step(d.db, d.insert_many);
  }
  for (; i < batch.size(); ++i) {
    bind_row(d.insert, 1, batch[i]);
    step(d.db, d.insert);
  }
  if (sqlite3_exec(d.db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    spdlog::error("audit: commit failed: {}", sqlite3_errmsg(d.db));
  }
}

void set_arguments(AuditRecord& r, std::string text, bool keep) {
  constexpr std::size_t kToWriterMax = 4096;
  r.bytes_in = static_cast<std::int64_t>(text.size());
  if (text.size() > kToWriterMax) {
    r.args_digest = sha256_hex(text);
    if (keep) {
      r.arguments = redact_arguments(text);
    }
    return;
  }
  r.args_text = std::move(text);
  r.keep_arguments = keep;
}

std::string redact_arguments(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) {
    return "[unparsable]";
  }
  redact(v);
  return boost::json::serialize(v);
}

std::unique_ptr<AuditLog> AuditLog::open(const AuditOptions& options, std::string& error) {
  auto log = std::unique_ptr<AuditLog>(new AuditLog());
  log->options_ = options;
  log->db_ = std::make_unique<Db>();
  log->db_->db = open_db(options.path, error);
  if (log->db_->db == nullptr) {
    return nullptr;
  }
  if (sqlite3_prepare_v2(log->db_->db, insert_sql(1).c_str(), -1, &log->db_->insert, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(log->db_->db, insert_sql(kRowsPerInsert).c_str(), -1,
                         &log->db_->insert_many, nullptr) != SQLITE_OK) {
    error = sqlite3_errmsg(log->db_->db);
    return nullptr;
  }
  AuditQuery newest;
  newest.limit = kTail;
  std::string ignored;
  if (auto rows = query_audit(options.path, newest, ignored)) {
    log->tail_.assign(std::make_move_iterator(rows->begin()), std::make_move_iterator(rows->end()));
  }
  log->writer_ = std::thread([raw = log.get()] { raw->run(); });
  return log;
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_writer_.notify_all();
  if (writer_.joinable()) {
    writer_.join();
  }
  if (dropped_ > 0) {
    spdlog::warn("audit: {} row(s) were dropped because the queue was full", dropped_);
  }
}

void AuditLog::record(AuditRecord&& r) {
  std::unique_lock lock(mu_);
  if (queue_.size() >= options_.queue) {
    if (!options_.block_when_full) {
      if (dropped_++ % 1000 == 0) {
        spdlog::warn("audit: queue full ({} rows); dropping rows ({} so far)", options_.queue,
                     dropped_);
      }
      return;
    }
    space_or_flushed_.wait(lock, [&] { return queue_.size() < options_.queue || stopping_; });
  }
  queue_.push_back(std::move(r));
  ++queued_total_;
  if (queue_.size() == 1 || queue_.size() >= kBatch) {
    wake_writer_.notify_one();
  }
}

void AuditLog::flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = queued_total_;
  wake_writer_.notify_one();
  // Rows accepted so far are written (dropped ones were never accepted).
  space_or_flushed_.wait(lock, [&] { return written_ >= target || stopping_; });
}

std::uint64_t AuditLog::written() const {
  std::lock_guard lock(mu_);
  return written_;
}

std::uint64_t AuditLog::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

std::size_t AuditLog::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void AuditLog::run() {
  std::vector<AuditRecord> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_writer_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty() && stopping_) {
        break;
      }
      // Let a batch gather briefly: one transaction for many rows.
      if (queue_.size() < kBatch && !stopping_) {
        wake_writer_.wait_for(lock, kLinger, [&] { return queue_.size() >= kBatch || stopping_; });
      }
      while (!queue_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    space_or_flushed_.notify_all();
    for (auto& r : batch) {
      digest_arguments(r);
    }
    write_batch(*db_, batch);
    {
      std::lock_guard lock(mu_);
      written_ += batch.size();
      keep_tail(batch);
    }
    batch.clear();
    space_or_flushed_.notify_all();
  }
  space_or_flushed_.notify_all();
}

void AuditLog::keep_tail(std::vector<AuditRecord>& batch) {
  const std::size_t from = batch.size() > kTail ? batch.size() - kTail : 0;
  for (std::size_t i = from; i < batch.size(); ++i) {
    batch[i].args_text.clear();
    tail_.push_back(std::move(batch[i]));
  }
  while (tail_.size() > kTail) {
    tail_.pop_front();
  }
}

std::vector<AuditRecord> AuditLog::recent(std::size_t n) const {
  std::lock_guard lock(mu_);
  const std::size_t take = std::min(n, tail_.size());
  return {tail_.end() - static_cast<std::ptrdiff_t>(take), tail_.end()};
}

std::string audit_time(std::int64_t ms) {
  const auto t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

boost::json::object audit_json(const AuditRecord& r) {
  boost::json::object o;
  o["time"] = audit_time(r.ts_ms);
  o["ts_ms"] = r.ts_ms;
  o["principal"] = r.principal;
  o["session"] = r.session;
  o["client"] = r.client;
  o["server"] = r.server;
  o["method"] = r.method;
  o["target"] = r.target;
  o["args_digest"] = r.args_digest;
  if (!r.arguments.empty()) {
    o["arguments"] = r.arguments;
  }
  o["outcome"] = r.outcome;
  o["detail"] = r.detail;
  o["latency_us"] = r.latency_us;
  o["bytes_in"] = r.bytes_in;
  o["bytes_out"] = r.bytes_out;
  return o;
}

std::optional<std::vector<AuditRecord>> query_audit(const std::string& path, const AuditQuery& q,
                                                    std::string& error) {
  sqlite3* db = open_db(path, error);
  if (db == nullptr) {
    return std::nullopt;
  }
  std::string sql =
      "SELECT ts_ms, principal, session, client, server, method, target, args_digest, arguments,"
      " outcome, detail, latency_us, bytes_in, bytes_out FROM audit WHERE ts_ms >= ?";
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
