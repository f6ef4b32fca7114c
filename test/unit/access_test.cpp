#include "access/audit.hpp"
#include "access/authenticator.hpp"
#include "access/jwt.hpp"
#include "access/key_store.hpp"
#include "access/principal.hpp"
#include "access/wal_watch.hpp"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

namespace mcpgw::access {
namespace {

TEST(Glob, MatchesLikeAShell) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("github__*", "github__create_issue"));
  EXPECT_FALSE(glob_match("github__*", "gitlab__create_issue"));
  EXPECT_TRUE(glob_match("*__read_*", "files__read_file"));
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "ac"));
  EXPECT_TRUE(glob_match("*a*b*c*", "xxaxxbxxcxx"));
  EXPECT_FALSE(glob_match("*a*b*c*d", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccc"));
}

TEST(Principal, DenyWinsThenAllowListThenAll) {
  Principal p;
  p.grants.push_back({{"alpha", "beta"}, {"*__echo", "beta__*"}, {"beta__delete_*"}});
  EXPECT_TRUE(p.allows_tool("alpha", "alpha__echo"));
  EXPECT_FALSE(p.allows_tool("alpha", "alpha__add"));
  EXPECT_TRUE(p.allows_tool("beta", "beta__add"));
  EXPECT_FALSE(p.allows_tool("beta", "beta__delete_all"));
  EXPECT_FALSE(p.allows_tool("gamma", "gamma__echo")) << "server not allowed";
  Principal all;
  EXPECT_FALSE(all.allows_tool("any", "any__thing")) << "no grant, nothing allowed";
  all.grants.emplace_back();
  EXPECT_TRUE(all.allows_tool("any", "any__thing"));
}

TEST(Principal, EveryToolOfAServerOnlyWithoutRestrictions) {
  Principal p;
  p.grants.push_back({{"beta"}, {"beta__*"}, {}});
  p.grants.push_back({{"alpha"}, {"*__echo"}, {}});
  p.grants.push_back({{"gamma"}, {}, {"gamma__drop_*"}});
  p.grants.push_back({{"delta"}, {"*"}, {}});
  EXPECT_TRUE(p.allows_every_tool("beta", "beta__"));
  EXPECT_FALSE(p.allows_every_tool("alpha", "alpha__")) << "only some tools";
  EXPECT_FALSE(p.allows_every_tool("gamma", "gamma__")) << "some tools denied";
  EXPECT_TRUE(p.allows_every_tool("delta", "delta__"));
  EXPECT_FALSE(p.allows_every_tool("epsilon", "epsilon__")) << "server not allowed";
  EXPECT_FALSE(p.allows_every_tool("beta", "bet")) << "a glob for another prefix";
  Principal all;
  all.grants.emplace_back();
  EXPECT_TRUE(all.allows_every_tool("any", "any__"));
}

TEST(Principal, GrantsAddUpEachWithItsOwnDenials) {
  Principal p;
  p.grants.push_back({{"github"}, {"github__get_*"}, {}});
  p.grants.push_back({{"slack"}, {}, {"slack__post_*"}});
  EXPECT_TRUE(p.allows_tool("github", "github__get_issue"));
  EXPECT_FALSE(p.allows_tool("github", "github__create_issue"));
  EXPECT_TRUE(p.allows_tool("slack", "slack__read_channel"));
  EXPECT_FALSE(p.allows_tool("slack", "slack__post_message"));
  EXPECT_TRUE(p.allows_server("slack"));
  EXPECT_FALSE(p.allows_server("postgres"));
}

TEST(Jwt, Base64UrlIsStrict) {
  EXPECT_EQ(base64url_decode("eyJhIjoxfQ"), std::optional<std::string>(R"({"a":1})"));
  EXPECT_EQ(base64url_decode("-_8"), std::optional<std::string>("\xfb\xff"));
  EXPECT_FALSE(base64url_decode("ab+/")) << "standard base64 characters";
  EXPECT_FALSE(base64url_decode("eyJ=")) << "padding";
  EXPECT_FALSE(base64url_decode("a")) << "a lone character is no byte";
  EXPECT_TRUE(looks_like_jwt("eyJh.eyJi.c2ln"));
  EXPECT_FALSE(looks_like_jwt("mcpgw-0123456789abcdef"));
  EXPECT_FALSE(looks_like_jwt("eyJh.eyJi.c2ln.extra"));
}

TEST(Jwt, UnusableKeysAreSkippedAndNamed) {
  config::JwtConfig cfg;
  cfg.issuer = "i";
  cfg.audiences = {"a"};
  JwtVerifier v(cfg);
  std::string error;
  std::string skipped;
  EXPECT_FALSE(v.set_jwks("[]", error));
  EXPECT_NE(error.find("not a JWKS"), std::string::npos);
  // Off-curve point, wrong use, unknown kty, a short RSA modulus: none is usable.
  const std::string off_curve =
      R"({"kty":"EC","crv":"P-256","kid":"off","x":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",)"
      R"("y":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"})";
  const std::string doc = R"({"keys":[)" + off_curve +
                          R"(,{"kty":"RSA","use":"enc","kid":"enc","n":"AQAB","e":"AQAB"})"
                          R"(,{"kty":"oct","kid":"hmac","k":"c2VjcmV0"})"
                          R"(,{"kty":"RSA","kid":"short","n":"w8NlZDtHq0hC7IL5Xy0Fkw","e":"AQAB"}]})";
  EXPECT_FALSE(v.set_jwks(doc, error, &skipped));
  for (const char* kid : {"off", "enc", "hmac", "short"}) {
    EXPECT_NE(error.find(std::string("key \"") + kid + "\""), std::string::npos) << kid << ": " << error;
  }
  EXPECT_EQ(v.key_count(), 0u);
  auto r = v.verify("eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln", 0);
  EXPECT_EQ(r.status, JwtStatus::no_keys) << r.reason;
}

TEST(Durations, AndRates) {
  EXPECT_EQ(parse_duration("30d"), 30 * 86400);
  EXPECT_EQ(parse_duration("90m"), 90 * 60);
  EXPECT_FALSE(parse_duration("30"));
  EXPECT_FALSE(parse_duration("-1d"));
  EXPECT_EQ(parse_rate("60/min"), 60.0);
  EXPECT_EQ(parse_rate("2/s"), 120.0);
  EXPECT_EQ(parse_rate("600/h"), 10.0);
  EXPECT_FALSE(parse_rate("60"));
}

class Store : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("mcpgw-keys-" + std::to_string(::getpid()) + ".db")).string();
    std::filesystem::remove(path_);
  }
  void TearDown() override {
    for (const char* ext : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_ + ext);
    }
  }
  std::string path_;
};

TEST_F(Store, KeysAreStoredAsDigestsAndChecked) {
  std::string error;
  auto store = KeyStore::open(path_, error);
  ASSERT_TRUE(store) << error;
  KeyRecord r;
  r.name = "ci";
  r.servers = {"alpha"};
  auto key = store->create(r, error);
  ASSERT_TRUE(key) << error;
  EXPECT_EQ(key->rfind("mcpgw-", 0), 0u);
  EXPECT_FALSE(store->create(r, error)) << "names are unique";
  EXPECT_NE(error.find("exists already"), std::string::npos);

  // The database holds no key in clear.
  std::FILE* f = std::fopen(path_.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string bytes;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
    bytes.append(buf, n);
  }
  std::fclose(f);
  std::FILE* w = std::fopen((path_ + "-wal").c_str(), "rb");
  if (w != nullptr) {
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, w)) > 0;) {
      bytes.append(buf, n);
    }
    std::fclose(w);
  }
  EXPECT_EQ(bytes.find(*key), std::string::npos);
  EXPECT_NE(bytes.find(sha256_hex(*key)), std::string::npos);

  const KeyRecord* rec = nullptr;
  EXPECT_EQ(store->check(*key, 0, &rec), KeyCheck::ok);
  EXPECT_EQ(rec->servers, std::vector<std::string>{"alpha"});
  EXPECT_EQ(store->check("mcpgw-wrong", 0, &rec), KeyCheck::unknown);
}

TEST_F(Store, RevocationByAnotherConnectionIsSeenAtTheNextCheck) {
  std::string error;
  auto gateway = KeyStore::open(path_, error);
  auto cli = KeyStore::open(path_, error);
  ASSERT_TRUE(gateway && cli) << error;
  KeyRecord r;
  r.name = "temp";
  auto key = cli->create(r, error);
  ASSERT_TRUE(key);
  const KeyRecord* rec = nullptr;
  EXPECT_EQ(gateway->check(*key, 0, &rec), KeyCheck::ok);
  ASSERT_TRUE(cli->revoke("temp", error)) << error;
  EXPECT_EQ(gateway->check(*key, 0, &rec), KeyCheck::revoked);
  EXPECT_FALSE(cli->revoke("temp", error)) << "already revoked";
}

TEST_F(Store, RevocationIsSeenAfterTheLogWasCheckpointedAndRestarted) {
  std::string error;
  auto gateway = KeyStore::open(path_, error);
  auto cli = KeyStore::open(path_, error);
  ASSERT_TRUE(gateway && cli) << error;
  KeyRecord r;
  r.name = "a";
  auto a = cli->create(r, error);
  r.name = "b";
  auto b = cli->create(r, error);
  ASSERT_TRUE(a && b) << error;
  const KeyRecord* rec = nullptr;
  EXPECT_EQ(gateway->check(*a, 0, &rec), KeyCheck::ok);
  // A third process checkpoints the log and truncates it: the next commit starts the log
  // over, with the same size as before, so only the WAL index says that something changed.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(gateway->check(*a, 0, &rec), KeyCheck::ok);
  ASSERT_TRUE(cli->revoke("a", error)) << error;
  EXPECT_EQ(gateway->check(*a, 0, &rec), KeyCheck::revoked);
  ASSERT_TRUE(cli->revoke("b", error)) << error;
  EXPECT_EQ(gateway->check(*b, 0, &rec), KeyCheck::revoked);
}

TEST_F(Store, TheWalIndexIsWatchedWithoutSystemCalls) {
  std::string error;
  auto store = KeyStore::open(path_, error);
  ASSERT_TRUE(store) << error;
  WalWatch watch(path_);
  EXPECT_TRUE(watch.changed()) << "the first look";
  EXPECT_TRUE(watch.mapped()) << "the -shm file of a database in WAL mode is mapped";
  EXPECT_FALSE(watch.changed());
  KeyRecord r;
  r.name = "x";
  ASSERT_TRUE(store->create(r, error)) << error;
  EXPECT_TRUE(watch.changed()) << "a commit rewrites the index header";
  EXPECT_FALSE(watch.changed());
  watch.forget();
  EXPECT_TRUE(watch.changed());
}

TEST_F(Store, AConnectionsKeyIsHashedOnceAndEachKeyGetsItsOwnRecord) {
  std::string error;
  auto store = KeyStore::open(path_, error);
  KeyRecord r;
  r.name = "one";
  auto one = store->create(r, error);
  r.name = "two";
  auto two = store->create(r, error);
  ASSERT_TRUE(one && two) << error;
  KeyMemo memo;
  EXPECT_EQ(memo.digest(*one), sha256_hex(*one));
  const KeyRecord* rec = nullptr;
  // The same connection sends one key, then another, then a wrong one, then the first again.
  ASSERT_EQ(store->check(*one, 0, &rec, &memo), KeyCheck::ok);
  EXPECT_EQ(rec->name, "one");
  ASSERT_EQ(store->check(*two, 0, &rec, &memo), KeyCheck::ok);
  EXPECT_EQ(rec->name, "two");
  std::string wrong = *two;
  wrong.back() = wrong.back() == 'x' ? 'y' : 'x';  // same length, one character off
  EXPECT_EQ(store->check(wrong, 0, &rec, &memo), KeyCheck::unknown);
  ASSERT_TRUE(store->revoke("one", error)) << error;
  EXPECT_EQ(store->check(*one, 0, &rec, &memo), KeyCheck::revoked);
}

TEST_F(Store, ExpiredKeysAreRefused) {
  std::string error;
  auto store = KeyStore::open(path_, error);
  KeyRecord r;
  r.name = "short";
  r.expires_at = 1000;
  auto key = store->create(r, error);
  const KeyRecord* rec = nullptr;
  EXPECT_EQ(store->check(*key, 999, &rec), KeyCheck::ok);
  EXPECT_EQ(store->check(*key, 1000, &rec), KeyCheck::expired);
}

TEST_F(Store, TheAuthenticatorReadsEveryHeaderStyleAndLimitsTheRate) {
  config::AuthConfig cfg;
  cfg.mode = "keys";
  cfg.store = path_;
  Authenticator auth;
  std::string error;
  ASSERT_TRUE(auth.init(cfg, error)) << error;
  auto store = KeyStore::open(path_, error);
  KeyRecord r;
  r.name = "limited";
  r.rate_per_min = 2;
  auto key = store->create(r, error);
  ASSERT_TRUE(key);
  const std::string bearer = "Bearer " + *key;
  EXPECT_EQ(auth.authenticate({bearer, {}, {}}).outcome, AuthOutcome::ok);
  auto second = auth.authenticate({{}, *key, {}});
  EXPECT_EQ(second.outcome, AuthOutcome::ok);
  EXPECT_EQ(second.principal->name, "limited");
  auto third = auth.authenticate({{}, {}, bearer});
  EXPECT_EQ(third.outcome, AuthOutcome::rate_limited);
  EXPECT_GE(third.retry_after_s, 1);
  EXPECT_EQ(auth.authenticate({}).outcome, AuthOutcome::missing);
  EXPECT_EQ(auth.authenticate({"Bearer nope", {}, {}}).outcome, AuthOutcome::invalid);
}

TEST(Audit, SecretsInArgumentsAreRedacted) {
  EXPECT_EQ(redact_arguments(R"({"q":"select 1","password":"p","nested":{"apiKey":"k","n":1},"list":[{"token":"t"}]})"),
            R"({"q":"select 1","password":"[redacted]","nested":{"apiKey":"[redacted]","n":1},"list":[{"token":"[redacted]"}]})");
  EXPECT_EQ(redact_arguments("not json"), "[unparsable]");
}

TEST_F(Store, TheWriterDigestsArgumentsAndRedactsThoseItKeeps) {
  std::string error;
  AuditOptions opts;
  opts.path = path_;
  const std::string small = R"({"q":"x","token":"t0p"})";
  const std::string large = R"({"q":")" + std::string(5000, 'x') + R"(","token":"t0p"})";
  auto redacted = [](const std::string& q) { return R"({"q":")" + q + R"(","token":"[redacted]"})"; };
  {
    auto log = AuditLog::open(opts, error);
    ASSERT_TRUE(log) << error;
    // Rows 0 and 1: small arguments, left to the writer; 2 and 3: large ones, digested before
    // the queue. Odd rows keep their arguments.
    for (int i = 0; i < 4; ++i) {
      AuditRecord r;
      r.ts_ms = i;
      r.method = "tools/call";
      r.outcome = "ok";
      const std::string& text = i < 2 ? small : large;
      set_arguments(r, text, i % 2 == 1);
      EXPECT_EQ(r.args_text.empty(), i >= 2) << "only a small text waits in the queue";
      EXPECT_EQ(r.bytes_in, static_cast<std::int64_t>(text.size()));
      log->record(std::move(r));
    }
    log->flush();
  }
  AuditQuery q;
  auto rows = query_audit(path_, q, error);
  ASSERT_TRUE(rows) << error;
  ASSERT_EQ(rows->size(), 4u);
  for (const auto& row : *rows) {
    const bool is_small = row.ts_ms < 2;
    EXPECT_EQ(row.args_digest, sha256_hex(is_small ? small : large)) << row.ts_ms;
    const std::string kept = redacted(is_small ? "x" : std::string(5000, 'x'));
    EXPECT_EQ(row.arguments, row.ts_ms % 2 == 1 ? kept : "") << row.ts_ms;
  }
}

TEST_F(Store, AnOlderTrailGetsTheUpstreamColumnAndKeepsItsRows) {
  {  // a trail as written before the column existed
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE audit (id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
                           " principal TEXT NOT NULL, session TEXT, client TEXT, server TEXT,"
                           " method TEXT NOT NULL, target TEXT, args_digest TEXT, arguments TEXT,"
                           " outcome TEXT NOT NULL, detail TEXT, latency_us INTEGER,"
                           " bytes_in INTEGER, bytes_out INTEGER);"
                           "INSERT INTO audit (ts_ms, principal, method, outcome)"
                           " VALUES (1, 'bob', 'tools/call', 'ok');",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  std::string error;
  AuditOptions opts;
  opts.path = path_;
  {
    auto log = AuditLog::open(opts, error);
    ASSERT_TRUE(log) << error;
    AuditRecord r;
    r.ts_ms = 2;
    r.principal = "alice";
    r.method = "tools/call";
    r.outcome = "ok";
    r.upstream = "own OAuth token of alice";
    log->record(std::move(r));
    log->flush();
  }
  auto rows = query_audit(path_, AuditQuery{}, error);
  ASSERT_TRUE(rows) << error;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].principal, "bob");
  EXPECT_EQ((*rows)[0].upstream, "");
  EXPECT_EQ((*rows)[1].upstream, "own OAuth token of alice");
  EXPECT_EQ(audit_json((*rows)[1]).at("upstream"), "own OAuth token of alice");
}

TEST_F(Store, TheAuditTailHoldsTheNewestRowsFromTheStoreThenEachWrittenRow) {
  std::string error;
  AuditOptions opts;
  opts.path = path_;
  auto row = [](std::int64_t ts, const char* target) {
    AuditRecord r;
    r.ts_ms = ts;
    r.method = "tools/call";
    r.target = target;
    r.outcome = "ok";
    set_arguments(r, R"({"token":"t0p"})", false);
    return r;
  };
  {
    auto log = AuditLog::open(opts, error);
    ASSERT_TRUE(log) << error;
    EXPECT_TRUE(log->recent(10).empty());
    for (std::int64_t i = 0; i < 150; ++i) {
      log->record(row(i, "before"));
    }
    log->flush();
    const auto tail = log->recent(1000);
    ASSERT_EQ(tail.size(), AuditLog::kTail) << "never more than kTail";
    EXPECT_EQ(tail.front().ts_ms, 50);
    EXPECT_EQ(tail.back().ts_ms, 149) << "newest last";
    EXPECT_EQ(tail.back().args_digest, sha256_hex(R"({"token":"t0p"})")) << "as written";
  }
  // A new process starts from what the store holds, then adds what it writes.
  auto log = AuditLog::open(opts, error);
  ASSERT_TRUE(log) << error;
  auto tail = log->recent(3);
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail.back().ts_ms, 149);
  log->record(row(200, "after"));
  log->flush();
  tail = log->recent(2);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].ts_ms, 149);
  EXPECT_EQ(tail[1].target, "after");
  EXPECT_EQ(audit_json(tail[1]).at("time").as_string(), "1970-01-01T00:00:00.200Z");
}

TEST_F(Store, KnownKeysListsEveryKeyByNameWithoutItsSecret) {
  std::string error;
  auto store = KeyStore::open(path_, error);
  ASSERT_TRUE(store) << error;
  KeyRecord b;
  b.name = "bob";
  KeyRecord a;
  a.name = "alice";
  const auto bob_key = store->create(b, error);
  ASSERT_TRUE(bob_key) << error;
  ASSERT_TRUE(store->create(a, error)) << error;
  ASSERT_TRUE(store->revoke("bob", error)) << error;
  const auto known = store->known();
  ASSERT_EQ(known.size(), 2u);
  EXPECT_EQ(known[0].name, "alice");
  EXPECT_FALSE(known[0].revoked_at.has_value());
  EXPECT_EQ(known[1].name, "bob");
  EXPECT_TRUE(known[1].revoked_at.has_value()) << "a revocation shows at once";
  EXPECT_EQ(bob_key->rfind(known[1].prefix, 0), 0u);
  EXPECT_LT(known[1].prefix.size(), bob_key->size());
}

TEST_F(Store, AuditRowsAreWrittenAndQueried) {
  std::string error;
  AuditOptions opts;
  opts.path = path_;
  {
    auto log = AuditLog::open(opts, error);
    ASSERT_TRUE(log) << error;
    for (int i = 0; i < 700; ++i) {  // more than one batch
      AuditRecord r;
      r.ts_ms = 1000 + i;
      r.principal = i % 2 ? "odd" : "even";
      r.method = "tools/call";
      r.target = i % 3 ? "alpha__echo" : "beta__add";
      r.outcome = i % 5 ? "ok" : "error";
      log->record(std::move(r));
    }
    log->flush();
    EXPECT_EQ(log->written(), 700u);
  }
  AuditQuery q;
  auto all = query_audit(path_, q, error);
  ASSERT_TRUE(all) << error;
  EXPECT_EQ(all->size(), 700u);
  q.principal = "odd";
  q.outcome = "error";
  EXPECT_EQ(query_audit(path_, q, error)->size(), 70u);
  AuditQuery t;
  t.tool = "beta__*";
  t.since_ms = 1000 + 600;
  EXPECT_EQ(query_audit(path_, t, error)->size(), 34u);
  AuditQuery tail;
  tail.limit = 3;
  auto last = query_audit(path_, tail, error);
  ASSERT_EQ(last->size(), 3u);
  EXPECT_EQ(last->back().ts_ms, 1699) << "tail is oldest-to-newest, ending at the newest";
}

TEST_F(Store, AFullQueueDropsAndCountsWhenSoConfigured) {
  std::string error;
  AuditOptions opts;
  opts.path = path_;
  opts.queue = 1;
  opts.block_when_full = false;
  constexpr int kRows = 5000;
  std::uint64_t written = 0;
  std::uint64_t dropped = 0;
  {
    auto log = AuditLog::open(opts, error);
    ASSERT_TRUE(log) << error;
    for (int i = 0; i < kRows; ++i) {
      AuditRecord r;
      r.principal = "p";
      r.method = "tools/call";
      r.outcome = "ok";
      log->record(std::move(r));
    }
    log->flush();
    written = log->written();
    dropped = log->dropped();
  }
  EXPECT_GT(dropped, 0u) << "a one-row queue cannot keep up with a tight loop";
  EXPECT_EQ(written + dropped, static_cast<std::uint64_t>(kRows)) << "every row is written or counted";
  EXPECT_EQ(query_audit(path_, AuditQuery{}, error)->size(), written);
}

}  // namespace
}  // namespace mcpgw::access
