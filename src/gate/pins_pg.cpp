#include "gate/pins_pg.hpp"

#include "store/migrate.hpp"
#include "store/pg_follower.hpp"
#include "store/postgres.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace mcpgw::gate {

namespace asio = boost::asio;

namespace {

constexpr const char* kChannel = "mcpgw_pins";
constexpr auto kFirstPause = std::chrono::milliseconds(250);
constexpr auto kLongestPause = std::chrono::milliseconds(5000);

constexpr const char* kColumns =
    "server, tool, hash, definition, pinned_at, pending_hash, pending_definition, reason,"
    " seen_at, changed";

const std::string& schema() {
  static const std::string script = store::migration_script(
      "pins",
      {{1,
        "    CREATE SEQUENCE mcpgw_tool_pin_changes;\n"
        "    CREATE TABLE mcpgw_tool_pins (server text NOT NULL, tool text NOT NULL,"
        " hash text NOT NULL DEFAULT '', definition text NOT NULL DEFAULT '',"
        " pinned_at bigint NOT NULL DEFAULT 0, pending_hash text NOT NULL DEFAULT '',"
        " pending_definition text NOT NULL DEFAULT '', reason text NOT NULL DEFAULT '',"
        " seen_at bigint NOT NULL DEFAULT 0, changed bigint NOT NULL DEFAULT 0,"
        " PRIMARY KEY (server, tool));\n"
        "    CREATE FUNCTION mcpgw_tool_pins_version() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
        "      BEGIN NEW.changed := nextval('mcpgw_tool_pin_changes'); RETURN NEW; END $f$;\n"
        "    CREATE TRIGGER mcpgw_tool_pins_version BEFORE INSERT OR UPDATE ON mcpgw_tool_pins"
        " FOR EACH ROW EXECUTE FUNCTION mcpgw_tool_pins_version();\n"
        "    CREATE FUNCTION mcpgw_tool_pins_changed() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
        "      BEGIN PERFORM pg_notify('mcpgw_pins', ''); RETURN NULL; END $f$;\n"
        "    CREATE TRIGGER mcpgw_tool_pins_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
        " ON mcpgw_tool_pins FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_tool_pins_changed();"}});
  return script;
}

using Row = std::vector<std::optional<std::string>>;

std::optional<PinRow> row_of(const Row& r) {
  if (r.size() != 10 || !r[0] || !r[1]) {
    return std::nullopt;
  }
  PinRow p;
  p.server = *r[0];
  p.tool = *r[1];
  p.hash = r[2].value_or("");
  p.definition = r[3].value_or("");
  p.pinned_ms = store::column_int(r[4]).value_or(0);
  p.pending_hash = r[5].value_or("");
  p.pending_definition = r[6].value_or("");
  p.reason = r[7].value_or("");
  p.seen_ms = store::column_int(r[8]).value_or(0);
  p.changed = store::column_int(r[9]).value_or(0);
  return p;
}

/// The statement of one write, and its parameters.
std::pair<const char*, store::PgParams> statement(PinWrite kind, const PinRow& p,
                                                  const std::string& expect) {
  switch (kind) {
    case PinWrite::pin:
      return {"INSERT INTO mcpgw_tool_pins (server, tool, hash, definition, pinned_at)"
              " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server, tool) DO NOTHING",
              {p.server, p.tool, p.hash, p.definition, std::to_string(p.pinned_ms)}};
    case PinWrite::quarantine:
      return {"INSERT INTO mcpgw_tool_pins (server, tool, pending_hash, pending_definition,"
              " reason, seen_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (server, tool)"
              " DO UPDATE SET pending_hash = excluded.pending_hash,"
              " pending_definition = excluded.pending_definition, reason = excluded.reason,"
              " seen_at = excluded.seen_at WHERE mcpgw_tool_pins.pending_hash = ''"
              " AND mcpgw_tool_pins.hash <> excluded.pending_hash",
              {p.server, p.tool, p.pending_hash, p.pending_definition, p.reason,
               std::to_string(p.seen_ms)}};
    case PinWrite::approve:
      return {"UPDATE mcpgw_tool_pins SET hash = pending_hash, definition = pending_definition,"
              " pinned_at = $3, pending_hash = '', pending_definition = '', reason = '',"
              " seen_at = 0 WHERE server = $1 AND tool = $2 AND pending_hash = $4",
              {p.server, p.tool, std::to_string(p.pinned_ms), expect}};
    case PinWrite::upgrade:
      break;
  }
  return {"UPDATE mcpgw_tool_pins SET hash = $3, definition = $4 WHERE server = $1"
          " AND tool = $2 AND hash = $5",
          {p.server, p.tool, p.hash, p.definition, expect}};
}

/// A failure another attempt may not see: the connection, not the statement.
bool transient(const store::PgResult& r) {
  return r.sqlstate.empty() || r.sqlstate.starts_with("08") || r.sqlstate.starts_with("57P");
}

class PgPins final : public PinBackend {
 public:
  PgPins(std::string url, std::chrono::milliseconds timeout)
      : url_(std::move(url)),
        timeout_s_(static_cast<int>(std::max<std::int64_t>(1, (timeout.count() + 999) / 1000))) {}

  bool load(std::vector<PinRow>& rows, std::string& error) override;
  std::optional<PinRow> write(PinWrite kind, const PinRow& row,
                              const std::string& expect) override;
  void stop() override;
  bool shared() const override { return true; }

 private:
  /// The connection, made (and the schema brought up to date) when there is none.
  store::PgBlocking* connection(std::string& error);
  /// Sleeps before another attempt; false when the store is closing.
  bool pause(std::chrono::milliseconds& wait);

  std::string url_;
  int timeout_s_;
  std::unique_ptr<store::PgBlocking> pg_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopped_{false};
};

store::PgBlocking* PgPins::connection(std::string& error) {
  if (!pg_) {
    pg_ = store::PgBlocking::connect(url_, timeout_s_, schema(), "tool pin store", error);
  }
  return pg_.get();
}

bool PgPins::load(std::vector<PinRow>& rows, std::string& error) {
  auto* pg = connection(error);
  if (pg == nullptr) {
    return false;
  }
  auto r = pg->exec(fmt::format("SELECT {} FROM mcpgw_tool_pins", kColumns));
  if (!r.ok) {
    error = "cannot read the tool pins: " + r.error;
    pg_.reset();
    return false;
  }
  for (const auto& raw : r.rows) {
    if (auto p = row_of(raw)) {
      rows.push_back(std::move(*p));
    }
  }
  return true;
}

std::optional<PinRow> PgPins::write(PinWrite kind, const PinRow& row, const std::string& expect) {
  auto wait = kFirstPause;
  for (;;) {
    std::string error;
    if (auto* pg = connection(error)) {
      auto [sql, params] = statement(kind, row, expect);
      auto r = pg->exec(sql, params);
      if (r.ok) {
        r = pg->exec(fmt::format("SELECT {} FROM mcpgw_tool_pins WHERE server = $1 AND tool = $2",
                                 kColumns), {row.server, row.tool});
      }
      if (r.ok) {
        return r.rows.empty() ? std::nullopt : row_of(r.rows.front());
      }
      if (!transient(r)) {
        spdlog::error("tool pins: the store refused the pin of {}/{}: {}", row.server, row.tool,
                      r.error);
        return std::nullopt;
      }
      error = r.error;
      pg_.reset();
    }
    spdlog::warn("tool pins: cannot write the pin of {}/{} ({}); trying again", row.server,
                 row.tool, error);
    if (!pause(wait)) {
      spdlog::error("tool pins: the pin of {}/{} was not written: the gateway stopped first",
                    row.server, row.tool);
      return std::nullopt;
    }
  }
}

bool PgPins::pause(std::chrono::milliseconds& wait) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, wait, [this] { return stopped_.load(); });
  wait = std::min(wait * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kLongestPause));
  return !stopped_;
}

void PgPins::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  wake_.notify_all();
}

}  // namespace

std::unique_ptr<PinBackend> open_pg_pins(const std::string& url,
                                         std::chrono::milliseconds timeout) {
  return std::make_unique<PgPins>(url, timeout);
}

std::shared_ptr<store::PgFollower> follow_pg_pins(asio::any_io_executor ex,
                                                  const std::string& url,
                                                  std::chrono::milliseconds timeout,
                                                  std::function<void(std::vector<PinRow>&&)> rows) {
  store::PgFollower::Options o{url, timeout, schema(), kChannel,
                               fmt::format("SELECT {} FROM mcpgw_tool_pins", kColumns),
                               "tool pin store"};
  auto follower = store::PgFollower::create(
      std::move(ex), std::move(o), [rows = std::move(rows)](std::vector<Row>&& raw) {
        std::vector<PinRow> out;
        out.reserve(raw.size());
        for (const auto& r : raw) {
          if (auto p = row_of(r)) {
            out.push_back(std::move(*p));
          }
        }
        rows(std::move(out));
      });
  follower->start();
  return follower;
}

}  // namespace mcpgw::gate
