// Tool pins in a SQLite file: one replica's own. Quarantines live in memory only; an
// approval or a first sight writes the pin.
#include "access/sqlite_store.hpp"
#include "gate/pin_backend.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace mcpgw::gate {

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS tool_pins ("
    " server TEXT NOT NULL, tool TEXT NOT NULL, hash TEXT NOT NULL, definition TEXT NOT NULL,"
    " pinned_at INTEGER NOT NULL, PRIMARY KEY (server, tool));";

class SqlitePins final : public PinBackend {
 public:
  SqlitePins(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqlitePins() override { sqlite3_close(db_); }
  SqlitePins(const SqlitePins&) = delete;
  SqlitePins& operator=(const SqlitePins&) = delete;

  bool load(std::vector<PinRow>& rows, std::string& error) override;
  std::optional<PinRow> write(PinWrite kind, const PinRow& row,
                              const std::string& expect) override;
  bool shared() const override { return false; }

 private:
  sqlite3* db_;
  std::string path_;
};

bool SqlitePins::load(std::vector<PinRow>& rows, std::string& error) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT server, tool, hash, definition, pinned_at FROM tool_pins",
                         -1, &st, nullptr) != SQLITE_OK) {
    error = fmt::format("cannot read the tool pin store {}: {}", path_, sqlite3_errmsg(db_));
    return false;
  }
  auto col = [&](int i) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return std::string(t != nullptr ? t : "");
  };
  while (sqlite3_step(st) == SQLITE_ROW) {
    PinRow p;
    p.server = col(0);
    p.tool = col(1);
    p.hash = col(2);
    p.definition = col(3);
    p.pinned_ms = sqlite3_column_int64(st, 4);
    rows.push_back(std::move(p));
  }
  sqlite3_finalize(st);
  return true;
}

std::optional<PinRow> SqlitePins::write(PinWrite kind, const PinRow& row, const std::string&) {
  if (kind == PinWrite::quarantine) {
    return std::nullopt;  // kept in memory: a restart lists the tools again and sees it anew
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO tool_pins (server, tool, hash, definition, pinned_at) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (server, tool) DO UPDATE SET "
                         "hash = excluded.hash, definition = excluded.definition, "
                         "pinned_at = excluded.pinned_at",
                         -1, &st, nullptr) != SQLITE_OK) {
    spdlog::error("tool pins: cannot write: {}", sqlite3_errmsg(db_));
    return std::nullopt;
  }
  auto bind = [st](int i, const std::string& s) {
    sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  };
  bind(1, row.server);
  bind(2, row.tool);
  bind(3, row.hash);
  bind(4, row.definition);
  sqlite3_bind_int64(st, 5, row.pinned_ms);
  if (sqlite3_step(st) != SQLITE_DONE) {
    spdlog::error("tool pins: cannot write the pin of {}/{}: {}", row.server, row.tool,
                  sqlite3_errmsg(db_));
  }
  sqlite3_finalize(st);
  return std::nullopt;
}

}  // namespace

std::unique_ptr<PinBackend> open_sqlite_pins(const std::string& path, std::string& error) {
  sqlite3* db = access::open_sqlite(path, kSchema, "tool pin store", 2000, error);
  if (db == nullptr) {
    return nullptr;
  }
  return std::make_unique<SqlitePins>(db, path);
}

}  // namespace mcpgw::gate
