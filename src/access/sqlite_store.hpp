#pragma once
// Opening one of the gateway's SQLite files (keys, audit): created if missing, WAL mode, a
// busy timeout, and the schema applied.
#include <string>

struct sqlite3;

namespace mcpgw::access {

/// Null with `error` ("cannot open the key store …: why") on failure. `flags` are added to
/// SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE.
sqlite3* open_sqlite(const std::string& path, const char* schema, const char* what,
                     int busy_ms, std::string& error, int flags = 0);

}  // namespace mcpgw::access
