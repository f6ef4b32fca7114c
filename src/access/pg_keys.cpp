#include "access/pg_keys.hpp"

#include "common/text.hpp"
#include "store/migrate.hpp"
#include "store/pg_follower.hpp"
#include "store/postgres.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ctime>

namespace mcpgw::access {

namespace asio = boost::asio;

namespace {

constexpr const char* kChannel = "mcpgw_keys";

constexpr const char* kSelect =
    "SELECT digest, name, prefix, servers, tools, deny_tools, expires_at, rate_per_min,"
    " created_at, revoked_at FROM mcpgw_api_keys";

/// A row of kSelect (without its digest, column 0) as a KeyRecord.
KeyRecord record_of(const std::vector<std::optional<std::string>>& row) {
  KeyRecord r;
  r.name = row[1].value_or("");
  r.prefix = row[2].value_or("");
  r.servers = split_list(row[3].value_or(""));
  r.tools = split_list(row[4].value_or(""));
  r.deny_tools = split_list(row[5].value_or(""));
  r.expires_at = store::column_int(row[6]);
  if (row[7]) {
    r.rate_per_min = std::strtod(row[7]->c_str(), nullptr);
  }
  r.created_at = store::column_int(row[8]).value_or(0);
  r.revoked_at = store::column_int(row[9]);
  return r;
}

std::optional<std::string> opt_text(const std::optional<std::int64_t>& v) {
  return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
}

}  // namespace

const std::string& pg_keys_schema() {
  static const std::string script = store::migration_script(
      "keys",
      {{1,
        "    CREATE TABLE mcpgw_api_keys (name text PRIMARY KEY, digest text NOT NULL UNIQUE,"
        " prefix text NOT NULL, servers text NOT NULL DEFAULT '', tools text NOT NULL DEFAULT '',"
        " deny_tools text NOT NULL DEFAULT '', expires_at bigint, rate_per_min double precision,"
        " created_at bigint NOT NULL, revoked_at bigint);\n"
        "    CREATE FUNCTION mcpgw_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
        "      BEGIN PERFORM pg_notify('mcpgw_keys', ''); RETURN NULL; END $f$;\n"
        "    CREATE TRIGGER mcpgw_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
        " ON mcpgw_api_keys FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_keys_changed();"}});
  return script;
}

// ---- PgKeySource ----

PgKeySource::PgKeySource(asio::any_io_executor ex, std::string url,
                         std::chrono::milliseconds timeout)
    : ex_(ex), url_(std::move(url)), timeout_(timeout) {}

std::shared_ptr<PgKeySource> PgKeySource::create(asio::any_io_executor ex, std::string url,
                                                 std::chrono::milliseconds timeout) {
  return std::shared_ptr<PgKeySource>(new PgKeySource(std::move(ex), std::move(url), timeout));
}

void PgKeySource::start() {
  store::PgFollower::Options o{url_, timeout_, pg_keys_schema(), kChannel, kSelect, "key store"};
  follower_ = store::PgFollower::create(ex_, std::move(o), [weak = weak_from_this()](Rows&& rows) {
    if (auto self = weak.lock()) {
      self->take(std::move(rows));
    }
  });
  follower_->start();
}

void PgKeySource::stop() {
  if (follower_) {
    follower_->stop();
  }
}

bool PgKeySource::up() const noexcept { return follower_ && follower_->up(); }

std::string PgKeySource::describe() const {
  const std::string where = store::redact_password(url_);
  if (up()) {
    return fmt::format("{}: up ({} keys)", where, keys_.size());
  }
  return fmt::format("{}: down: {}{}", where, follower_ ? follower_->why() : "not started",
                     loaded_ ? fmt::format(" (the {} keys read last are kept)", keys_.size()) : "");
}

void PgKeySource::take(Rows&& rows) {
  Map fresh;
  for (const auto& row : rows) {
    if (row.size() == 10 && row[0]) {
      fresh.emplace(*row[0], record_of(row));
    }
  }
  keys_ = std::move(fresh);
  loaded_ = true;
  ++generation_;
}

// ---- PgKeyAdmin ----

PgKeyAdmin::PgKeyAdmin(std::unique_ptr<store::PgBlocking> pg) : pg_(std::move(pg)) {}
PgKeyAdmin::~PgKeyAdmin() = default;

std::unique_ptr<PgKeyAdmin> PgKeyAdmin::open(const std::string& url, std::string& error) {
  auto pg = store::PgBlocking::connect(url, 10, pg_keys_schema(), "key store", error);
  if (!pg) {
    return nullptr;
  }
  return std::unique_ptr<PgKeyAdmin>(new PgKeyAdmin(std::move(pg)));
}

std::optional<std::string> PgKeyAdmin::create(KeyRecord rec, std::string& error) {
  auto key = new_key(rec, error);
  if (!key) {
    return std::nullopt;
  }
  auto r = pg_->exec(
      "INSERT INTO mcpgw_api_keys (name, digest, prefix, servers, tools, deny_tools, expires_at,"
      " rate_per_min, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
      {rec.name, sha256_hex(*key), rec.prefix, join_list(rec.servers), join_list(rec.tools),
       join_list(rec.deny_tools), opt_text(rec.expires_at),
       rec.rate_per_min ? std::optional<std::string>(fmt::format("{}", *rec.rate_per_min))
                        : std::nullopt,
       std::to_string(rec.created_at)});
  if (!r.ok) {
    error = r.sqlstate == "23505" ? fmt::format("a key named '{}' exists already", rec.name)
                                  : r.error;
    return std::nullopt;
  }
  return key;
}

std::vector<KeyRecord> PgKeyAdmin::list(std::string& error) {
  std::vector<KeyRecord> out;
  auto r = pg_->exec(std::string(kSelect) + " ORDER BY created_at, name");
  if (!r.ok) {
    error = r.error;
    return out;
  }
  for (const auto& row : r.rows) {
    if (row.size() == 10) {
      out.push_back(record_of(row));
    }
  }
  return out;
}

bool PgKeyAdmin::revoke(const std::string& name, std::string& error) {
  auto r = pg_->exec(
      "UPDATE mcpgw_api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
      {std::to_string(static_cast<std::int64_t>(std::time(nullptr))), name});
  if (!r.ok) {
    error = r.error;
    return false;
  }
  if (r.affected == 0) {
    error = fmt::format("no live key named '{}'", name);
    return false;
  }
  return true;
}

}  // namespace mcpgw::access
