// The audit trail in PostgreSQL, shared by the replicas: each batch is one multi-row INSERT
// (parameters, not text pasted into SQL), written by the audit writer thread.
#include "access/audit_sink.hpp"

#include "access/principal.hpp"

#include "common/text.hpp"
#include "store/migrate.hpp"
#include "store/postgres.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mcpgw::access {

namespace {

constexpr int kConnectTimeoutS = 2;  // libpq's least
constexpr const char* kColumns =
    "ts_ms, replica, principal, session, client, server, method, target, args_digest, arguments,"
    " outcome, detail, latency_us, bytes_in, bytes_out, upstream";
constexpr std::size_t kColumnCount = 16;

const std::string& schema() {
  static const std::string script = store::migration_script(
      "audit",
      {{1,
        "    CREATE TABLE mcpgw_audit (id bigserial PRIMARY KEY, ts_ms bigint NOT NULL,"
        " replica text NOT NULL DEFAULT '', principal text NOT NULL, session text, client text,"
        " server text, method text NOT NULL, target text, args_digest text, arguments text,"
        " outcome text NOT NULL, detail text, latency_us bigint, bytes_in bigint,"
        " bytes_out bigint);\n"
        "    CREATE INDEX mcpgw_audit_ts ON mcpgw_audit (ts_ms);"},
       {2, "    ALTER TABLE mcpgw_audit ADD COLUMN upstream text;"}});
  return script;
}

/// The statement for `rows` rows: VALUES ($1..$15), ($16..$30), …
std::string insert_sql(std::size_t rows) {
  std::string sql = fmt::format("INSERT INTO mcpgw_audit ({}) VALUES ", kColumns);
  for (std::size_t r = 0; r < rows; ++r) {
    sql += r == 0 ? "(" : ",(";
    for (std::size_t c = 0; c < kColumnCount; ++c) {
      fmt::format_to(std::back_inserter(sql), "{}${}", c == 0 ? "" : ",", r * kColumnCount + c + 1);
    }
    sql += ')';
  }
  return sql;
}

void add_row(store::PgParams& p, const AuditRecord& r, const std::string& replica) {
  auto text = [&](const std::string& v) { p.emplace_back(valid_utf8(v)); };
  p.emplace_back(std::to_string(r.ts_ms));
  text(replica);
  text(r.principal);
  text(r.session);
  text(r.client);
  text(r.server);
  text(r.method);
  text(r.target);
  text(r.args_digest);
  if (r.arguments.empty()) {
    p.emplace_back(std::nullopt);
  } else {
    text(r.arguments);
  }
  text(r.outcome);
  text(r.detail);
  p.emplace_back(std::to_string(r.latency_us));
  p.emplace_back(std::to_string(r.bytes_in));
  p.emplace_back(std::to_string(r.bytes_out));
  if (r.upstream.empty()) {
    p.emplace_back(std::nullopt);
  } else {
    text(r.upstream);
  }
}

std::int64_t as_int(const std::optional<std::string>& v) {
  return store::column_int(v).value_or(0);
}

std::unique_ptr<store::PgBlocking> connect(const std::string& url, std::string& error) {
  return store::PgBlocking::connect(url, kConnectTimeoutS, schema(), "audit store", error);
}

std::optional<std::vector<AuditRecord>> query_on(store::PgBlocking& pg, const AuditQuery& q,
                                                 std::string& error) {
  std::string sql = fmt::format("SELECT {} FROM mcpgw_audit WHERE ts_ms >= $1", kColumns);
  store::PgParams params{std::to_string(q.since_ms)};
  if (!q.principal.empty()) {
    params.emplace_back(q.principal);
    sql += fmt::format(" AND principal = ${}", params.size());
  }
  if (!q.outcome.empty()) {
    params.emplace_back(q.outcome);
    sql += fmt::format(" AND outcome = ${}", params.size());
  }
  sql += q.limit > 0 ? fmt::format(" ORDER BY id DESC LIMIT {}", q.limit) : " ORDER BY id";
  auto res = pg.exec(sql, params);
  if (!res.ok) {
    error = res.error;
    return std::nullopt;
  }
  std::vector<AuditRecord> rows;
  for (auto& row : res.rows) {
    if (row.size() != kColumnCount) {
      continue;
    }
    AuditRecord r;
    r.ts_ms = as_int(row[0]);
    r.replica = row[1].value_or("");
    r.principal = row[2].value_or("");
    r.session = row[3].value_or("");
    r.client = row[4].value_or("");
    r.server = row[5].value_or("");
    r.method = row[6].value_or("");
    r.target = row[7].value_or("");
    r.args_digest = row[8].value_or("");
    r.arguments = row[9].value_or("");
    r.outcome = row[10].value_or("");
    r.detail = row[11].value_or("");
    r.latency_us = as_int(row[12]);
    r.bytes_in = as_int(row[13]);
    r.bytes_out = as_int(row[14]);
    r.upstream = row[15].value_or("");
    if (!q.tool.empty() && !glob_match(q.tool, r.target)) {
      continue;
    }
    rows.push_back(std::move(r));
  }
  if (q.limit > 0) {
    std::reverse(rows.begin(), rows.end());
  }
  return rows;
}

class PgSink : public AuditSink {
 public:
  PgSink(std::string url, std::string replica) : url_(std::move(url)), replica_(std::move(replica)) {}

  bool write(const std::vector<AuditRecord>& batch, std::string& error) override {
    if (!pg_ && !(pg_ = connect(url_, error))) {
      return false;
    }
    store::PgParams params;
    params.reserve(batch.size() * kColumnCount);
    for (const auto& r : batch) {
      add_row(params, r, replica_);
    }
    auto res = pg_->exec(insert_sql(batch.size()), params);
    if (!res.ok) {
      error = res.error;
      pg_.reset();  // connect (and migrate) again before the next try
      return false;
    }
    return true;
  }

  std::vector<AuditRecord> newest(std::size_t n) override {
    std::string error;
    if (!pg_ && !(pg_ = connect(url_, error))) {
      return {};
    }
    AuditQuery q;
    q.limit = n;
    return query_on(*pg_, q, error).value_or(std::vector<AuditRecord>{});
  }

 private:
  std::string url_;
  std::string replica_;
  std::unique_ptr<store::PgBlocking> pg_;
};

}  // namespace

std::unique_ptr<AuditSink> pg_audit_sink(const std::string& url, std::string replica) {
  return std::make_unique<PgSink>(url, std::move(replica));
}

std::optional<std::vector<AuditRecord>> query_audit_pg(const std::string& url,
                                                       const AuditQuery& q, std::string& error) {
  auto pg = connect(url, error);
  if (!pg) {
    return std::nullopt;
  }
  return query_on(*pg, q, error);
}

}  // namespace mcpgw::access
