#pragma once
// Where the audit writer thread puts its batches: a SQLite file (one replica) or PostgreSQL
// (the trail the replicas share). Used by the writer thread alone; never on the event loop.
#include "access/audit.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace mcpgw::access {

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  /// Writes `batch` whole, or not at all: false (with `error`) when the store cannot be
  /// written now; the writer keeps the rows and tries again.
  virtual bool write(const std::vector<AuditRecord>& batch, std::string& error) = 0;
  /// The newest `n` rows, newest last (the dashboard's tail at start); empty when unreadable.
  virtual std::vector<AuditRecord> newest(std::size_t n) = 0;
};

/// The SQLite file at `path` (created with its schema). Null with `error`.
std::unique_ptr<AuditSink> sqlite_audit_sink(const std::string& path, std::string& error);
/// PostgreSQL at `url`: connects (and migrates the schema) on first use, from the writer
/// thread, and again after a failure. Each row records `replica`.
std::unique_ptr<AuditSink> pg_audit_sink(const std::string& url, std::string replica);

/// query_audit for each kind of store.
std::optional<std::vector<AuditRecord>> query_audit_sqlite(const std::string& path,
                                                           const AuditQuery& q,
                                                           std::string& error);
std::optional<std::vector<AuditRecord>> query_audit_pg(const std::string& url,
                                                       const AuditQuery& q, std::string& error);

}  // namespace mcpgw::access
