#pragma once
// The audit trail: one row per tools/call, resources/read, prompts/get and denied request, in
// a SQLite file or in PostgreSQL (audit_sink.hpp). Rows are queued by the event loop and
// written by one writer thread in batches, so a slow disk or database never stalls a request.
// A batch the store cannot take is kept and tried again. On shutdown the queue is flushed. A
// full queue either blocks the caller or drops the row and counts it (gateway.audit.whenFull):
// never a silent loss; with "block", new calls are refused (saturated()) before it is full.
#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace mcpgw::access {

class AuditSink;

struct AuditRecord {
  std::int64_t ts_ms = 0;      ///< unix milliseconds
  std::string principal;       ///< key name, "-" when unknown (a 401)
  std::string session;
  std::string client;          ///< clientInfo.name
  std::string server;
  std::string method;          ///< tools/call, resources/read, prompts/get, or http
  std::string target;          ///< tool, URI or prompt, as the client named it
  std::string args_digest;     ///< SHA-256 of the arguments as sent
  std::string arguments;       ///< only with gateway.audit.arguments, secrets redacted
  std::string replica;         ///< the replica that wrote it (PostgreSQL only)
  std::string outcome;         ///< ok, error, denied, timeout, cancelled
  std::string detail;          ///< the error or the reason for a denial
  /// Who the call acted as upstream, when not the gateway's own configured identity: "own
  /// OAuth token of alice", "token exchange at https://…", "vault values of alice", …
  std::string upstream;
  std::int64_t latency_us = 0;
  std::int64_t bytes_in = 0;   ///< request size (serialized)
  std::int64_t bytes_out = 0;  ///< response size (serialized)
  /// The arguments as sent (serialized), for the writer thread: it digests them into
  /// `args_digest` and, with `keep_arguments`, stores them redacted in `arguments`, so that
  /// neither runs on the event loop. Empty: `args_digest` and `arguments` are kept as they are.
  std::string args_text;
  bool keep_arguments = false;
};

struct AuditOptions {
  std::string path;           ///< a SQLite file, or a postgres:// URL
  std::string replica;        ///< written into each row (PostgreSQL)
  std::size_t queue = 10000;  ///< rows waiting for the writer
  bool block_when_full = true;
};

class AuditLog {
 public:
  static std::unique_ptr<AuditLog> open(const AuditOptions& options, std::string& error);
  ~AuditLog();  ///< flushes what is queued, then stops the writer
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  /// Queues a row (from the event loop). With a full queue: waits, or drops and counts.
  void record(std::unique_ptr<AuditRecord> r);
  void record(AuditRecord&& r) { record(std::make_unique<AuditRecord>(std::move(r))); }
  /// Writes everything queued so far before returning; false when that took longer than
  /// `patience` (the store is down: the rows stay queued).
  bool flush(std::chrono::milliseconds patience = std::chrono::hours(24 * 365));
  std::uint64_t written() const;
  std::uint64_t dropped() const;
  /// Rows waiting for the writer.
  std::size_t queued() const;
  /// With whenFull "block": nine tenths of the queue are waiting (the store is down or slow).
  /// A new call is refused then, rather than stalling the event loop once the queue is full.
  bool saturated() const noexcept { return saturated_.load(std::memory_order_relaxed); }
  /// "" while the store takes the rows; else why it did not, the last time.
  std::string store_problem() const;
  /// The newest rows written (at most `n`, and at most kTail), newest last: what the trail
  /// held at start, then each row once it is written. For the dashboard.
  std::vector<AuditRecord> recent(std::size_t n) const;
  static constexpr std::size_t kTail = 100;

 private:
  AuditLog() = default;
  void run();
  /// Writes `batch`, trying again (250 ms, doubling to 5 s) while the store refuses it. Once
  /// stopping, gives up after one more try: the rows are counted as lost. False then.
  bool write_until_done(const std::vector<AuditRecord>& batch);
  /// Sets saturated_ from the queue's length (with mu_ held): read without the lock per call.
  void note_saturation() noexcept;
  /// Moves a written batch's rows into tail_ (with mu_ held).
  void keep_tail(std::vector<AuditRecord>& batch);

  std::unique_ptr<AuditSink> sink_;
  bool tail_pending_ = false;  ///< the writer reads the tail first (PostgreSQL)
  AuditOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_writer_;
  std::condition_variable space_or_flushed_;
  std::deque<std::unique_ptr<AuditRecord>> queue_;
  std::deque<AuditRecord> tail_;  ///< the newest rows written, at most kTail
  std::uint64_t queued_total_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t dropped_ = 0;  ///< the queue was full (whenFull "drop")
  std::uint64_t lost_ = 0;     ///< queued, but the store did not take them before the end
  bool stopping_ = false;
  std::string problem_;  ///< why the store did not take the last batch; "" when it did
  bool gave_up_ = false;
  std::atomic<bool> saturated_{false};  ///< stopping, and the store refused the last try (writer thread)
  std::thread writer_;
};

/// Rows matching a query, newest last. `since_ms` 0 for all; empty strings match anything;
/// `tool` is a glob.
struct AuditQuery {
  std::int64_t since_ms = 0;
  std::string principal;
  std::string tool;
  std::string outcome;
  std::size_t limit = 0;  ///< 0: no limit (the newest `limit` rows otherwise)
};
std::optional<std::vector<AuditRecord>> query_audit(const std::string& path, const AuditQuery& q,
                                                    std::string& error);

/// Unix milliseconds as ISO 8601 in UTC, to the millisecond ("…T10:27:24.120Z").
std::string audit_time(std::int64_t ms);
/// A row as JSON (`mcpgw audit --json`, the admin API): its time in UTC as well as unix ms.
boost::json::object audit_json(const AuditRecord& r);

/// Sets the row's arguments from `text`, as sent: its digest, and with `keep` its redacted
/// copy. For a small text both are left to the writer thread (off the event loop); a large one
/// is digested here, so that a queue of rows never holds more than small texts.
void set_arguments(AuditRecord& r, std::string text, bool keep);

/// Arguments as stored when gateway.audit.arguments is on: values of keys that look like
/// secrets (password, token, secret, key, authorization, cookie…) become "[redacted]".
std::string redact_arguments(std::string_view json_text);

}  // namespace mcpgw::access
