#include "access/key_store.hpp"

#include <algorithm>

#include "access/pg_keys.hpp"
#include "access/sqlite_store.hpp"
#include "common/random.hpp"
#include "store/postgres.hpp"
#include "common/text.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <memory>

namespace mcpgw::access {

namespace {

constexpr std::string_view kKeyPrefix = "mcpgw-";

/// A prepared statement, finalized on scope exit.
KeyRecord read_row(Stmt& st, int first) {
  KeyRecord r;
  r.name = st.column_text(first);
  r.prefix = st.column_text(first + 1);
  r.servers = split_list(st.column_text(first + 2));
  r.tools = split_list(st.column_text(first + 3));
  r.deny_tools = split_list(st.column_text(first + 4));
  r.expires_at = st.column_int(first + 5);
  if (sqlite3_column_type(st.get(), first + 6) != SQLITE_NULL) {
    r.rate_per_min = sqlite3_column_double(st.get(), first + 6);
  }
  r.created_at = st.column_int(first + 7).value_or(0);
  r.revoked_at = st.column_int(first + 8);
  return r;
}

constexpr const char* kColumns =
    "name, prefix, servers, tools, deny_tools, expires_at, rate_per_min, created_at, revoked_at";

}  // namespace

std::string sha256_hex(std::string_view key) {
  // Fetched once: an implicit fetch on every call costs more than the digest itself.
  // The context is made once per thread too: one per digest costs two allocations.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                                            EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx.get(), sha256, nullptr);
  EVP_DigestUpdate(ctx.get(), key.data(), key.size());
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return to_hex(md, len);
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
  if (text.size() < 2) {
    return std::nullopt;
  }
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || p != text.data() + text.size() - 1 || n <= 0) {
    return std::nullopt;
  }
  switch (text.back()) {
    case 's': return n;
    case 'm': return n * 60;
    case 'h': return n * 3600;
    case 'd': return n * 86400;
    default: return std::nullopt;
  }
}

std::optional<double> parse_rate(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  double n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + slash, n);
  if (ec != std::errc() || p != text.data() + slash || n <= 0) {
    return std::nullopt;
  }
  const std::string_view unit = text.substr(slash + 1);
  if (unit == "min" || unit == "m") {
    return n;
  }
  if (unit == "s" || unit == "sec") {
    return n * 60;
  }
  if (unit == "h" || unit == "hour") {
    return n / 60;
  }
  return std::nullopt;
}

sqlite3* open_sqlite(const std::string& path, const char* schema, const char* what,
                     int busy_ms, std::string& error, int flags) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | flags,
                      nullptr) != SQLITE_OK) {
    error = fmt::format("cannot open the {} {}: {}", what, path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, busy_ms);
  char* msg = nullptr;
  if (sqlite3_exec(db, "PRAGMA journal_mode=WAL;", nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(db, schema, nullptr, nullptr, &msg) != SQLITE_OK) {
    error = fmt::format("cannot set up the {} {}: {}", what, path, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_close(db);
    return nullptr;
  }
  return db;
}

std::optional<std::string> new_key(KeyRecord& r, std::string& error) {
  if (r.name.empty() || r.name.rfind("jwt:", 0) == 0) {
    error = "a key's name must be non-empty and must not start with \"jwt:\" (token subjects "
            "are named so)";
    return std::nullopt;
  }
  std::string key = std::string(kKeyPrefix) + random_hex(24);
  r.prefix = key.substr(0, kKeyPrefix.size() + 6);
  r.created_at = static_cast<std::int64_t>(std::time(nullptr));
  return key;
}

std::unique_ptr<KeyAdmin> open_key_admin(const std::string& store, std::string& error) {
  if (store::is_postgres_url(store)) {
    return PgKeyAdmin::open(store, error);
  }
  return KeyStore::open(store, error);
}

std::unique_ptr<KeyStore> KeyStore::follow(std::shared_ptr<PgKeySource> source,
                                           bool cached_when_down) {
  auto store = std::unique_ptr<KeyStore>(new KeyStore(nullptr));
  store->source_ = std::move(source);
  store->cached_when_down_ = cached_when_down;
  return store;
}

std::uint64_t KeyStore::generation() const noexcept {
  return source_ ? source_->generation() : generation_;
}

KeyStoreState KeyStore::state() const {
  KeyStoreState st;
  if (!source_) {
    return st;
  }
  st.shared = true;
  st.usable = source_->up() || (cached_when_down_ && source_->keys() != nullptr);
  st.detail = source_->describe();
  return st;
}

const KeyStore::Map* KeyStore::current() {
  if (!source_) {
    reload_if_changed();
    return &by_digest_;
  }
  if (!source_->up() && !cached_when_down_) {
    return nullptr;
  }
  return source_->keys();
}

std::unique_ptr<KeyStore> KeyStore::open(const std::string& path, std::string& error) {
  sqlite3* db = open_sqlite(path,
                            "CREATE TABLE IF NOT EXISTS api_keys ("
                            " name TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE,"
                            " prefix TEXT NOT NULL, servers TEXT NOT NULL DEFAULT '',"
                            " tools TEXT NOT NULL DEFAULT '', deny_tools TEXT NOT NULL DEFAULT '',"
                            " expires_at INTEGER, rate_per_min REAL, created_at INTEGER NOT NULL,"
                            " revoked_at INTEGER);",
                            "key store", 2000, error);
  if (db == nullptr) {
    return nullptr;
  }
  auto store = std::unique_ptr<KeyStore>(new KeyStore(db));
  store->watch_ = std::make_unique<WalWatch>(path);
  return store;
}

KeyStore::~KeyStore() {
  if (source_) {
    source_->stop();
  }
  sqlite3_finalize(data_version_stmt_);
  sqlite3_close(db_);
}

std::optional<std::string> KeyStore::create(KeyRecord r, std::string& error) {
  if (db_ == nullptr) {
    error = "the keys are in PostgreSQL: use mcpgw keys --store with its URL";
    return std::nullopt;
  }
  auto key = new_key(r, error);
  if (!key) {
    return std::nullopt;
  }
  Stmt st(db_,
          "INSERT INTO api_keys (name, digest, prefix, servers, tools, deny_tools, expires_at,"
          " rate_per_min, created_at) VALUES (?,?,?,?,?,?,?,?,?)");
  if (!st.ok()) {
    error = sqlite3_errmsg(db_);
    return std::nullopt;
  }
  st.text(1, r.name);
  st.text(2, sha256_hex(*key));
  st.text(3, r.prefix);
  st.text(4, join_list(r.servers));
  st.text(5, join_list(r.tools));
  st.text(6, join_list(r.deny_tools));
  st.opt(7, r.expires_at);
  st.opt(8, r.rate_per_min);
  sqlite3_bind_int64(st.get(), 9, r.created_at);
  const int rc = sqlite3_step(st.get());
  if (rc != SQLITE_DONE) {
    error = sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY
                ? fmt::format("a key named '{}' exists already", r.name)
                : std::string(sqlite3_errmsg(db_));
    return std::nullopt;
  }
  data_version_ = -1;  // this connection's own commits do not move data_version: reload
  return key;
}

std::vector<KeyRecord> KeyStore::list(std::string& error) {
  std::vector<KeyRecord> out;
  if (db_ == nullptr) {
    error = "the keys are in PostgreSQL: use mcpgw keys --store with its URL";
    return out;
  }
  Stmt st(db_, fmt::format("SELECT {} FROM api_keys ORDER BY created_at, name", kColumns).c_str());
  if (!st.ok()) {
    error = sqlite3_errmsg(db_);
    return out;
  }
  while (sqlite3_step(st.get()) == SQLITE_ROW) {
    out.push_back(read_row(st, 0));
  }
  return out;
}

bool KeyStore::revoke(const std::string& name, std::string& error) {
  if (db_ == nullptr) {
    error = "the keys are in PostgreSQL: use mcpgw keys --store with its URL";
    return false;
  }
  Stmt st(db_, "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL");
  sqlite3_bind_int64(st.get(), 1, static_cast<std::int64_t>(std::time(nullptr)));
  st.text(2, name);
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    error = sqlite3_errmsg(db_);
    return false;
  }
  if (sqlite3_changes(db_) == 0) {
    error = fmt::format("no live key named '{}'", name);
    return false;
  }
  data_version_ = -1;  // as in create()
  return true;
}

bool KeyStore::reload_if_changed() {
  // Every commit rewrites the WAL-index header. While it is as it was, nothing changed: a
  // look at mapped memory instead of a read transaction (and its file locks) per request.
  if (!watch_->changed() && data_version_ >= 0) {
    return true;
  }
  if (!reload_if_version_changed()) {
    watch_->forget();  // not read: look again at the next request
    return false;
  }
  return true;
}

bool KeyStore::reload_if_version_changed() {
  // data_version changes when another connection (another process) commits. In WAL mode it is
  // read from the shared-memory index: no file I/O while nothing changed.
  if (data_version_stmt_ == nullptr &&
      sqlite3_prepare_v2(db_, "PRAGMA data_version", -1, &data_version_stmt_, nullptr) != SQLITE_OK) {
    return false;
  }
  if (sqlite3_step(data_version_stmt_) != SQLITE_ROW) {
    sqlite3_reset(data_version_stmt_);
    return false;
  }
  const std::int64_t version = sqlite3_column_int64(data_version_stmt_, 0);
  sqlite3_reset(data_version_stmt_);
  if (version == data_version_) {
    return true;
  }
  Stmt st(db_, fmt::format("SELECT digest, {} FROM api_keys", kColumns).c_str());
  if (!st.ok()) {
    spdlog::error("key store: {}", sqlite3_errmsg(db_));
    return false;
  }
  decltype(by_digest_) fresh;
  while (sqlite3_step(st.get()) == SQLITE_ROW) {
    fresh.emplace(st.column_text(0), read_row(st, 1));
  }
  by_digest_ = std::move(fresh);
  data_version_ = version;
  ++generation_;
  return true;
}

KeyMemo::~KeyMemo() { OPENSSL_cleanse(key_.data(), key_.size()); }

const std::string& KeyMemo::digest(std::string_view key) {
  if (key.size() != key_.size() || CRYPTO_memcmp(key.data(), key_.data(), key.size()) != 0) {
    OPENSSL_cleanse(key_.data(), key_.size());
    key_.assign(key);
    digest_ = sha256_hex(key);
  }
  return digest_;
}

KeyCheck KeyStore::check(std::string_view key, std::int64_t now, const KeyRecord** record,
                         KeyMemo* memo) {
  const Map* keys = current();
  if (keys == nullptr) {
    return KeyCheck::unavailable;
  }
  auto it = memo != nullptr ? keys->find(memo->digest(key)) : keys->find(sha256_hex(key));
  if (it == keys->end()) {
    return KeyCheck::unknown;
  }
  *record = &it->second;
  if (it->second.revoked_at) {
    return KeyCheck::revoked;
  }
  if (it->second.expires_at && *it->second.expires_at <= now) {
    return KeyCheck::expired;
  }
  return KeyCheck::ok;
}

std::vector<KeyRecord> KeyStore::known() {
  std::vector<KeyRecord> out;
  const Map* keys = source_ ? source_->keys() : current();
  if (keys == nullptr) {
    return out;
  }
  out.reserve(keys->size());
  for (const auto& [digest, record] : *keys) {
    out.push_back(record);
  }
  std::sort(out.begin(), out.end(),
            [](const KeyRecord& a, const KeyRecord& b) { return a.name < b.name; });
  return out;
}

}  // namespace mcpgw::access
