#include "config/config.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace mcpgw::config {
namespace {

EnvLookup fake_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (name == "TOKEN") {
      return "s3cret";
    }
    if (name == "EMPTY") {
      return "";
    }
    return std::nullopt;
  };
}

std::optional<Config> parse_text(std::string_view text, Diagnostics& diag) {
  return parse(boost::json::parse(text), "/etc/mcpgw", diag, fake_env());
}

bool has_error(const Diagnostics& d, std::string_view needle) {
  for (const auto& e : d.errors) {
    if (e.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST(Config, ReadsClaudeDesktopFormat) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {
      "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
             "env": {"A": "b"}},
      "local": {"command": "./bin/server", "cwd": "srv"},
      "remote": {"type": "http", "url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
      "legacy": {"type": "sse", "url": "http://127.0.0.1:9/sse"},
      "cursor": {"url": "http://127.0.0.1:9/mcp"}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  ASSERT_EQ(cfg->servers.size(), 5u);
  EXPECT_EQ(cfg->servers[0].name, "fs");
  EXPECT_EQ(cfg->servers[0].transport, Transport::stdio);
  EXPECT_EQ(cfg->servers[0].args.size(), 3u);
  EXPECT_EQ(cfg->servers[0].cwd, "/etc/mcpgw");
  EXPECT_EQ(cfg->servers[1].cwd, "/etc/mcpgw/srv");
  EXPECT_EQ(cfg->servers[1].command, "/etc/mcpgw/srv/bin/server");
  EXPECT_EQ(cfg->servers[2].transport, Transport::http);
  EXPECT_EQ(cfg->servers[2].headers.at("Authorization"), "Bearer s3cret");
  EXPECT_EQ(cfg->servers[3].transport, Transport::sse);
  EXPECT_EQ(cfg->servers[4].transport, Transport::http);  // a url without a type
  EXPECT_EQ(cfg->gateway.listen_host, "127.0.0.1");
  EXPECT_EQ(cfg->gateway.listen_port, 8080);
}

TEST(Config, UnknownKeysNameTheirPath) {
  Diagnostics d;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"fs": {"comand": "x"}},
                              "gateway": {"limits": {"maxBody": 1}}, "extra": 1})", d));
  EXPECT_TRUE(has_error(d, "mcpServers.fs.comand: unknown key"));
  EXPECT_TRUE(has_error(d, "gateway.limits.maxBody: unknown key"));
  EXPECT_TRUE(has_error(d, "extra: unknown key"));
  EXPECT_TRUE(has_error(d, "mcpServers.fs.command: a stdio server needs a command"));
}

TEST(Config, BadValuesNameTheirPath) {
  Diagnostics d;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"a": {"command": 5, "args": "x"}},
      "gateway": {"listen": "nowhere", "timeouts": {"callMs": -1},
                  "servers": {"a": {"isolation": "process"}, "ghost": {}}}})", d));
  EXPECT_TRUE(has_error(d, "mcpServers.a.command: expected a string"));
  EXPECT_TRUE(has_error(d, "mcpServers.a.args: expected an array of strings"));
  EXPECT_TRUE(has_error(d, "gateway.listen: expected HOST:PORT"));
  EXPECT_TRUE(has_error(d, "gateway.timeouts.callMs: expected an integer from 1"));
  EXPECT_TRUE(has_error(d, "gateway.servers.a.isolation"));
  EXPECT_TRUE(has_error(d, "gateway.servers.ghost: no server named"));
}

TEST(Config, ClusterSettingsAreReadAndChecked) {
  Diagnostics d;
  auto none = parse_text(R"({"mcpServers": {}})", d);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->gateway.cluster.enabled());
  EXPECT_TRUE(none->gateway.cluster.redis.empty());
  auto cfg = parse_text(R"({"mcpServers": {}, "gateway": {"cluster": {
      "sessionKeyFile": "keys/session", "replica": "gw-a", "sessionMaxAgeS": 3600,
      "redis": "redis://:${TOKEN}@cache:6380/1", "redisTimeoutMs": 250,
      "whenRedisDown": "local"}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  const auto& c = cfg->gateway.cluster;
  EXPECT_TRUE(c.enabled());
  EXPECT_EQ(c.session_key_file, "/etc/mcpgw/keys/session") << "relative to the config file";
  EXPECT_EQ(c.replica, "gw-a");
  EXPECT_EQ(c.session_max_age, std::chrono::hours(1));
  EXPECT_EQ(c.redis, "redis://:s3cret@cache:6380/1") << "the password from the environment";
  EXPECT_EQ(c.redis_timeout, std::chrono::milliseconds(250));
  EXPECT_TRUE(c.redis_down_local);
  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {}, "gateway": {"cluster": {
      "redis": "http://cache:6379", "whenRedisDown": "sometimes", "keys": 1}}})", bad));
  EXPECT_TRUE(has_error(bad, "gateway.cluster.redis: expected redis://"));
  EXPECT_TRUE(has_error(bad, "gateway.cluster.whenRedisDown: \"sometimes\" is not one of: refuse, local"));
  EXPECT_TRUE(has_error(bad, "gateway.cluster.keys: unknown key"));
}

TEST(Config, StoreInPostgresHoldsTheKeysTheTrailAndThePins) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {}, "gateway": {
      "store": "postgres://mcpgw:${TOKEN}@db:5432/mcpgw", "storeTimeoutMs": 750,
      "whenStoreDown": "cached", "auth": {"mode": "keys"}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  const auto& g = cfg->gateway;
  EXPECT_EQ(g.store, "postgres://mcpgw:s3cret@db:5432/mcpgw") << "the password from the environment";
  EXPECT_EQ(g.auth.store, g.store) << "the keys are in the shared store";
  EXPECT_EQ(g.auth.store_timeout, std::chrono::milliseconds(750));
  EXPECT_TRUE(g.auth.store_down_cached);
  EXPECT_EQ(g.audit.store, g.store) << "the trail is shared too";
  EXPECT_EQ(g.security.pin_store, g.store) << "and the tool pins";
  EXPECT_EQ(g.security.store_timeout, std::chrono::milliseconds(750));

  Diagnostics own;
  cfg = parse_text(R"({"mcpServers": {}, "gateway": {"store": "postgresql://db/mcpgw",
      "auth": {"mode": "keys", "store": "keys.db"}}})", own);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->gateway.auth.store, "/etc/mcpgw/keys.db") << "auth.store names another store";
  EXPECT_EQ(cfg->gateway.audit.store, "postgresql://db/mcpgw");
  EXPECT_EQ(cfg->gateway.security.pin_store, "postgresql://db/mcpgw");
  EXPECT_FALSE(cfg->gateway.auth.store_down_cached) << "fails closed by default";

  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {}, "gateway": {"store": "mysql://db/x",
      "whenStoreDown": "maybe", "storeTimeoutMs": 0}})", bad));
  EXPECT_TRUE(has_error(bad, "gateway.store: expected postgres://"));
  EXPECT_TRUE(has_error(bad, "gateway.whenStoreDown: \"maybe\" is not one of: refuse, cached"));
  EXPECT_TRUE(has_error(bad, "gateway.storeTimeoutMs: expected an integer from 1"));
}

TEST(Config, HealthProbesAreOnByDefaultAndChecked) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}}})", d);
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->gateway.health.probe);
  EXPECT_EQ(cfg->gateway.health.probe_interval.count(), 30000);
  Diagnostics ok;
  cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}},
      "gateway": {"health": {"probe": false, "probeIntervalMs": 5000}}})", ok);
  ASSERT_TRUE(cfg) << (ok.errors.empty() ? "" : ok.errors.front());
  EXPECT_FALSE(cfg->gateway.health.probe);
  EXPECT_EQ(cfg->gateway.health.probe_interval.count(), 5000);
  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"a": {"command": "x"}},
      "gateway": {"health": {"probe": "yes", "probeIntervalMs": 0, "every": 1}}})", bad));
  EXPECT_TRUE(has_error(bad, "gateway.health.probe: expected true or false"));
  EXPECT_TRUE(has_error(bad, "gateway.health.probeIntervalMs: expected an integer from 1"));
  EXPECT_TRUE(has_error(bad, "gateway.health.every: unknown key"));
}

TEST(Config, MetricsAreOnByDefaultAndMayHaveAListenerOfTheirOwn) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}}})", d);
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->gateway.metrics.enabled);
  EXPECT_TRUE(cfg->gateway.metrics.listen_host.empty());
  Diagnostics ok;
  cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}},
      "gateway": {"metrics": {"enabled": true, "listen": "0.0.0.0:9464"}}})", ok);
  ASSERT_TRUE(cfg) << (ok.errors.empty() ? "" : ok.errors.front());
  EXPECT_EQ(cfg->gateway.metrics.listen_host, "0.0.0.0");
  EXPECT_EQ(cfg->gateway.metrics.listen_port, 9464);
  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"a": {"command": "x"}},
      "gateway": {"metrics": {"enabled": 1, "listen": "nowhere", "path": "/m"}}})", bad));
  EXPECT_TRUE(has_error(bad, "gateway.metrics.enabled: expected true or false"));
  EXPECT_TRUE(has_error(bad, "gateway.metrics.listen: expected HOST:PORT"));
  EXPECT_TRUE(has_error(bad, "gateway.metrics.path: unknown key"));
}

TEST(Config, WatchingTheFileIsOffUnlessAsked) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}}})", d);
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(cfg->gateway.watch);
  cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}}, "gateway": {"watch": true}})", d);
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->gateway.watch);
  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"a": {"command": "x"}}, "gateway": {"watch": "yes"}})",
                          bad));
  EXPECT_TRUE(has_error(bad, "gateway.watch: expected true or false"));
}

TEST(Config, TracingIsOffWithoutAnEndpointAndItsSettingsAreChecked) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}}})", d);
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->gateway.tracing.endpoint.empty());
  cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}}, "gateway": {"tracing": {
      "endpoint": "http://127.0.0.1:4318/v1/traces", "sampleRatio": 0.01, "flushMs": 500,
      "headers": {"x-api-key": "k"}}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  EXPECT_DOUBLE_EQ(cfg->gateway.tracing.sample_ratio, 0.01);
  EXPECT_EQ(cfg->gateway.tracing.flush.count(), 500);
  EXPECT_EQ(cfg->gateway.tracing.headers.at("x-api-key"), "k");
  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"a": {"command": "x"}}, "gateway": {"tracing": {
      "endpoint": "udp://collector", "sampleRatio": 2, "spanLimit": 1}}})", bad));
  EXPECT_TRUE(has_error(bad, "gateway.tracing.endpoint: expected an http:// or https:// URL"));
  EXPECT_TRUE(has_error(bad, "gateway.tracing.sampleRatio: expected a number from 0 to 1"));
  EXPECT_TRUE(has_error(bad, "gateway.tracing.spanLimit: unknown key"));
}

TEST(Config, ServerNamesMustNotContainTheSeparator) {
  Diagnostics d;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"my__server": {"command": "x"}}})", d));
  EXPECT_TRUE(has_error(d, "mcpServers.my__server"));
  Diagnostics d2;
  EXPECT_TRUE(parse_text(R"({"mcpServers": {"my__server": {"command": "x"}},
                             "gateway": {"separator": "."}})", d2));
}

TEST(Config, StreamableHttpIsSpelledHttp) {
  Diagnostics d;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"r": {"type": "streamable-http", "url": "http://x/mcp"}}})", d));
  EXPECT_TRUE(has_error(d, "Streamable HTTP servers use \"http\""));
}

TEST(Config, MissingEnvironmentVariablesAreErrors) {
  Diagnostics d;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"a": {"command": "x", "env": {"K": "${NOPE}"}}}})", d));
  EXPECT_TRUE(has_error(d, "mcpServers.a.env.K: environment variable NOPE is not set"));
  Diagnostics d2;
  auto cfg = parse_text(R"({"mcpServers": {"a": {"command": "x", "env": {"K": "${NOPE:-dflt}", "E": "${EMPTY}"}}}})", d2);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->servers[0].env.at("K"), "dflt");
  EXPECT_EQ(cfg->servers[0].env.at("E"), "");
}

TEST(Config, GatewaySettings) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {"a": {"command": "x"}, "b": {"command": "y", "disabled": true}},
      "gateway": {"listen": "[::1]:9000", "separator": "-", "allowedHosts": ["gw.internal"],
                  "limits": {"maxBodyBytes": 1024, "maxSessions": 3},
                  "timeouts": {"callMs": 1500, "listMs": 200},
                  "servers": {"a": {"isolation": "session", "callTimeoutMs": 50}}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  EXPECT_EQ(cfg->servers.size(), 1u);  // disabled servers are left out
  EXPECT_EQ(cfg->gateway.listen_host, "::1");
  EXPECT_EQ(cfg->gateway.listen_port, 9000);
  EXPECT_EQ(cfg->gateway.separator, "-");
  EXPECT_EQ(cfg->gateway.limits.max_body_bytes, 1024u);
  EXPECT_EQ(cfg->gateway.limits.max_sessions, 3u);
  EXPECT_EQ(cfg->gateway.timeouts.call.count(), 1500);
  EXPECT_EQ(cfg->gateway.timeouts.list.count(), 200);
  EXPECT_EQ(cfg->servers[0].options.isolation, Isolation::session);
  EXPECT_EQ(cfg->servers[0].options.call_timeout->count(), 50);
}

TEST(Config, WarnsWhenListeningBeyondLoopbackWithoutAllowedHosts) {
  Diagnostics d;
  EXPECT_TRUE(parse_text(R"({"mcpServers": {}, "gateway": {"listen": "0.0.0.0:8080"}})", d));
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("allowedHosts"), std::string::npos);
}

TEST(Config, ListenAddresses) {
  std::string host;
  std::uint16_t port = 0;
  EXPECT_TRUE(parse_listen("127.0.0.1:8080", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_TRUE(parse_listen(":0", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(parse_listen("[::1]:1", host, port));
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(parse_listen("::1:80", host, port));
  EXPECT_FALSE(parse_listen("host:99999", host, port));
  EXPECT_FALSE(parse_listen("host", host, port));
}

}  // namespace
TEST(Config, RemoteServersGetOneUpstreamSessionPerClientUnlessShareable) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {
      "local": {"command": "srv"},
      "remote": {"type": "http", "url": "https://example.com/mcp"},
      "shared": {"type": "sse", "url": "http://127.0.0.1:9/sse"},
      "pinned": {"type": "http", "url": "https://example.com/mcp"}},
    "gateway": {"servers": {"shared": {"shareable": true}, "pinned": {"isolation": "shared"}},
                "timeouts": {"connectMs": 2500}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  EXPECT_EQ(cfg->find("local")->options.isolation, Isolation::shared);
  EXPECT_EQ(cfg->find("remote")->options.isolation, Isolation::session);
  EXPECT_EQ(cfg->find("shared")->options.isolation, Isolation::shared);
  EXPECT_EQ(cfg->find("pinned")->options.isolation, Isolation::shared);
  EXPECT_EQ(cfg->gateway.timeouts.connect, Millis(2500));
}

TEST(Config, TlsOptionsAndForwardedAuthorization) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {
      "a": {"type": "http", "url": "https://a.example/mcp"},
      "b": {"type": "http", "url": "https://b.example/mcp"}},
    "gateway": {"servers": {
      "a": {"tls": {"caFile": "certs/ca.pem"}, "forwardAuthorization": true},
      "b": {"tls": {"insecure": true}}}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  EXPECT_EQ(cfg->find("a")->options.tls_ca_file, "/etc/mcpgw/certs/ca.pem");
  EXPECT_TRUE(cfg->find("a")->options.forward_authorization);
  EXPECT_TRUE(cfg->find("b")->options.tls_insecure);
  bool warned = false;
  for (const auto& w : d.warnings) {
    warned = warned || w.find("gateway.servers.b.tls.insecure") != std::string::npos;
  }
  EXPECT_TRUE(warned) << "insecure TLS is warned about";
}

TEST(Config, RemoteOnlyOptionsAreRefusedWhereTheyCannotWork) {
  {
    Diagnostics d;
    EXPECT_FALSE(parse_text(R"({"mcpServers": {"s": {"command": "srv"}},
        "gateway": {"servers": {"s": {"tls": {"insecure": true}}}}})", d));
    EXPECT_TRUE(has_error(d, "apply to http and sse servers only"));
  }
  {
    Diagnostics d;
    EXPECT_FALSE(parse_text(R"({"mcpServers": {"r": {"url": "https://x.example/mcp"}},
        "gateway": {"servers": {"r": {"shareable": true, "forwardAuthorization": true}}}})", d));
    EXPECT_TRUE(has_error(d, "gateway.servers.r.forwardAuthorization: needs isolation"));
  }
  {
    Diagnostics d;
    EXPECT_FALSE(parse_text(R"({"mcpServers": {"r": {"url": "https://x.example/mcp"}},
        "gateway": {"servers": {"r": {"shareable": true, "isolation": "session"}}}})", d));
    EXPECT_TRUE(has_error(d, "gateway.servers.r.shareable: contradicts"));
  }
}

TEST(Config, AuthModeAndStore) {
  {
    Diagnostics d;
    auto cfg = parse_text(R"({"mcpServers": {"s": {"command": "srv"}}})", d);
    ASSERT_TRUE(cfg);
    EXPECT_EQ(cfg->gateway.auth.mode, "none");
    EXPECT_FALSE(cfg->gateway.auth.mode_set);
    EXPECT_EQ(cfg->gateway.auth.store, "/etc/mcpgw/mcpgw.db");
  }
  {
    Diagnostics d;
    auto cfg = parse_text(R"({"mcpServers": {"s": {"command": "srv"}},
        "gateway": {"auth": {"mode": "keys", "store": "state/keys.db"}}})", d);
    ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
    EXPECT_EQ(cfg->gateway.auth.mode, "keys");
    EXPECT_TRUE(cfg->gateway.auth.mode_set);
    EXPECT_EQ(cfg->gateway.auth.store, "/etc/mcpgw/state/keys.db");
  }
  {
    Diagnostics d;
    EXPECT_FALSE(parse_text(R"({"mcpServers": {"s": {"command": "srv"}},
        "gateway": {"auth": {"mode": "jwt"}}})", d));
    EXPECT_TRUE(has_error(d, "gateway.auth: auth mode jwt needs gateway.auth.jwt with issuer"));
  }
  {
    Diagnostics d;
    EXPECT_FALSE(parse_text(R"({"mcpServers": {}, "gateway": {"auth": {"mode": "oauth"}}})", d));
    EXPECT_TRUE(has_error(d, "gateway.auth.mode: unknown auth mode \"oauth\""));
  }
}

TEST(Config, JwtSettings) {
  {
    Diagnostics d;
    auto cfg = parse_text(R"({"mcpServers": {}, "gateway": {"auth": {"mode": "jwt,keys", "jwt": {
        "issuer": "https://id.example", "resource": "https://gw.example/mcp",
        "jwks": "keys/jwks.json", "grants": {"read": {"servers": ["a"], "tools": ["a__get_*"]}}}}}})", d);
    ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors[0]);
    const auto& a = cfg->gateway.auth;
    EXPECT_EQ(a.mode, "keys,jwt") << "normalised";
    EXPECT_TRUE(a.uses_keys() && a.uses_jwt());
    EXPECT_EQ(a.jwt.audiences, std::vector<std::string>{"https://gw.example/mcp"}) << "from resource";
    EXPECT_EQ(a.jwt.jwks, "/etc/mcpgw/keys/jwks.json");
    EXPECT_FALSE(a.jwt.jwks_is_url);
    EXPECT_EQ(a.jwt.authorization_servers, std::vector<std::string>{"https://id.example"});
    EXPECT_EQ(a.jwt.grants.at("read").tools, std::vector<std::string>{"a__get_*"});
  }
  {
    Diagnostics d;
    EXPECT_FALSE(parse_text(R"({"mcpServers": {}, "gateway": {"auth": {"mode": "jwt", "jwt": {
        "issuer": "https://id.example", "audience": "x", "jwks": "http://id.example/jwks"}}}})", d));
    EXPECT_TRUE(has_error(d, "gateway.auth.jwt.jwks: a JWKS URL must be https://"));
  }
  {
    Diagnostics d;
    auto cfg = parse_text(R"({"mcpServers": {}, "gateway": {"auth": {"mode": "jwt", "jwt": {
        "issuer": "https://id.example", "audience": ["x", "y"], "jwks": "http://127.0.0.1:9/jwks",
        "algorithms": ["ES256"]}}}})", d);
    ASSERT_TRUE(cfg);
    EXPECT_TRUE(cfg->gateway.auth.jwt.jwks_is_url) << "plain http is fine on loopback";
    EXPECT_EQ(cfg->gateway.auth.jwt.audiences.size(), 2u);
  }
  {
    Diagnostics d;
    EXPECT_FALSE(parse_text(R"({"mcpServers": {}, "gateway": {"auth": {"mode": "jwt", "jwt": {
        "issuer": "i", "audience": "a", "jwks": "j", "algorithms": ["HS256"]}}}})", d));
    EXPECT_TRUE(has_error(d, "gateway.auth.jwt.algorithms: unsupported algorithm \"HS256\""));
  }
}

}  // namespace mcpgw::config

namespace mcpgw::config {
namespace {

TEST(Loopback, OnlyAddressLiteralsAndLocalhostAreLoopback) {
  for (std::string_view h : {"localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "::1", "[::1]",
                             "[0:0:0:0:0:0:0:1]", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_host(h)) << h;
  }
  for (std::string_view h : {"127.attacker.example", "127.0.0.1.attacker.example", "127.", "",
                             "localhost.attacker.example", "128.0.0.1", "[::2]", "0x7f.0.0.1",
                             "127.0.0.1:8080"}) {
    EXPECT_FALSE(is_loopback_host(h)) << h;
  }
}

}  // namespace
}  // namespace mcpgw::config

#include "config/json_text.hpp"

namespace mcpgw::config {
namespace {

TEST(ConfigText, SyntaxErrorsSayTheirLineAndColumn) {
  Diagnostics d;
  EXPECT_FALSE(parse_json_text("{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"}}\n  oops\n}",
                               "gw.json", d));
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_TRUE(has_error(d, "gw.json: not valid JSON at line 4, column 3:")) << d.errors[0];
}

TEST(ConfigText, CommentsAndTrailingCommasAreFine) {
  Diagnostics d;
  auto doc = parse_json_text("// servers\n{\"mcpServers\": {\"a\": {\"command\": \"x\",},},}",
                             "gw.json", d);
  ASSERT_TRUE(doc) << (d.errors.empty() ? "" : d.errors[0]);
  EXPECT_TRUE(doc->at("mcpServers").as_object().contains("a"));
}

TEST(ConfigText, AServerGivenTwiceIsAnErrorNotASilentReplacement) {
  Diagnostics d;
  EXPECT_FALSE(parse_json_text(
      "{\"mcpServers\": {\n  \"fs\": {\"command\": \"a\"},\n  \"fs\": {\"command\": \"b\"}\n}}",
      "gw.json", d));
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_TRUE(has_error(d, "mcpServers.fs: given twice in gw.json (line 3, column 3)"))
      << d.errors[0];
}

TEST(ConfigText, DuplicatesAreFoundAtAnyDepthWithTheirPath) {
  Diagnostics d;
  EXPECT_FALSE(parse_json_text(R"({"mcpServers": {}, "gateway": {"security": {"filters": [
      {"name": "inspect"}, {"name": "cop", "timeoutMs": 1, "timeoutMs": 2}]}}})", "gw.json", d));
  EXPECT_TRUE(has_error(d, "gateway.security.filters[1].timeoutMs: given twice")) << d.errors[0];
  Diagnostics ok;
  EXPECT_TRUE(parse_json_text(R"({"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]})",
                              "gw.json", ok))
      << "the same key in different objects is fine";
}

TEST(ConfigText, LineAndColumnCountFromOne) {
  EXPECT_EQ(line_and_column("abc", 0), "line 1, column 1");
  EXPECT_EQ(line_and_column("ab\ncd", 4), "line 2, column 2");
  EXPECT_EQ(line_and_column("ab", 99), "line 1, column 3");
}

}  // namespace
}  // namespace mcpgw::config

namespace mcpgw::config {
namespace {

TEST(Config, AClaudeDesktopConfigIsServedWithItsAppSettingsIgnored) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {"fs": {"command": "npx"}},
      "globalShortcut": "Ctrl+Space", "preferences": {"menuBarEnabled": true}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors[0]);
  EXPECT_EQ(cfg->servers.size(), 1u);
  ASSERT_EQ(d.warnings.size(), 2u);
  EXPECT_EQ(d.warnings[0], "globalShortcut: a Claude Desktop setting; mcpgw ignores it");
  Diagnostics typo;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {}, "gatway": {"security": {}}})", typo))
      << "any other unknown key is still an error";
  EXPECT_TRUE(has_error(typo, "gatway: unknown key (expected one of: gateway, mcpServers)"));
}

}  // namespace
}  // namespace mcpgw::config

namespace mcpgw::config {
namespace {

TEST(Config, PassHeadersAreCheckedNamesForRemoteServersWithSessions) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {"gh": {"type": "http", "url": "https://example.com/mcp"}},
      "gateway": {"servers": {"gh": {"passHeaders": ["Authorization", "X-Tenant"]}}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors[0]);
  EXPECT_EQ(cfg->servers[0].options.pass_headers,
            (std::vector<std::string>{"authorization", "x-tenant"}));
  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"s": {"command": "x"},
      "r": {"type": "http", "url": "https://example.com/mcp"},
      "q": {"type": "http", "url": "https://example.com/mcp"}},
      "gateway": {"servers": {"s": {"passHeaders": ["X-A"]},
                              "r": {"passHeaders": ["Mcp-Session-Id", "bad header"]},
                              "q": {"passHeaders": ["X-A"], "isolation": "shared"}}}})", bad));
  EXPECT_TRUE(has_error(bad, "gateway.servers.s.passHeaders: applies to http and sse servers only"));
  EXPECT_TRUE(has_error(bad, "\"mcp-session-id\" is set by the gateway itself"));
  EXPECT_TRUE(has_error(bad, "\"bad header\" is not a header name"));
  EXPECT_TRUE(has_error(bad, "gateway.servers.q.passHeaders: needs isolation \"session\""));
}

}  // namespace
}  // namespace mcpgw::config

namespace mcpgw::config {
namespace {

TEST(Security, TrustLabelsTurnTheGateOnUnlessItIsExplicitlyOff) {
  Diagnostics d;
  auto labelled = parse_text(R"({"mcpServers": {"web": {"command": "w"}, "db": {"command": "d"}},
    "gateway": {"servers": {"db": {"tools": {"query": {"trust": {"secret_data": true}}}}}}})", d);
  ASSERT_TRUE(labelled) << (d.errors.empty() ? "" : d.errors[0]);
  EXPECT_TRUE(labelled->gateway.security.enabled) << "a label on one tool is a policy too";
  EXPECT_EQ(labelled->gateway.security.turned_on_by, "trust labels on gateway.servers.db");
  EXPECT_NE(security_reason(labelled->gateway.security).find("gateway.security.enabled: false"),
            std::string::npos);

  auto off = parse_text(R"({"mcpServers": {"web": {"command": "w"}}, "gateway": {
    "security": {"enabled": false}, "servers": {"web": {"trust": {"public_source": true}}}}})", d);
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->gateway.security.enabled);
  EXPECT_EQ(security_reason(off->gateway.security),
            "off (gateway.security.enabled is false: trust labels are not enforced)");

  auto plain = parse_text(R"({"mcpServers": {"web": {"command": "w"}}})", d);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->gateway.security.enabled);
  EXPECT_EQ(security_reason(plain->gateway.security),
            "off (no gateway.security and no trust labels)");

  auto section = parse_text(R"({"mcpServers": {}, "gateway": {"security": {}}})", d);
  ASSERT_TRUE(section);
  EXPECT_TRUE(section->gateway.security.enabled);
  EXPECT_EQ(security_reason(section->gateway.security), "") << "asked for: nothing to explain";

  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {}, "gateway": {"security": {"enabled": "no"}}})", bad));
  EXPECT_TRUE(has_error(bad, "gateway.security.enabled: expected true or false"));
}

TEST(Config, TokenExchangeIsReadAndChecked) {
  Diagnostics d;
  auto cfg = parse_text(R"({"mcpServers": {"crm": {"url": "https://crm.example/mcp"}},
    "gateway": {"auth": {"mode": "jwt", "jwt": {"issuer": "https://i", "audience": "a",
                                                "jwks": "https://i/jwks"}},
      "servers": {"crm": {"auth": {"type": "tokenExchange", "tokenUrl": "https://as/token",
        "audience": "crm-api", "scope": "crm.read", "clientId": "mcpgw",
        "clientSecret": "${TOKEN}"}}}}})", d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  const auto& a = cfg->servers.front().options.auth;
  EXPECT_EQ(a.type, UpstreamAuth::Type::token_exchange);
  EXPECT_EQ(a.client_secret, "s3cret");
  EXPECT_EQ(a.resource, "https://crm.example/mcp");  // the server it is for, by default

  Diagnostics bad;
  EXPECT_FALSE(parse_text(R"({"mcpServers": {"crm": {"url": "https://crm.example/mcp"},
                                             "local": {"command": "x"}},
    "gateway": {"auth": {"mode": "keys"},
      "servers": {"crm": {"forwardAuthorization": true, "shareable": true,
                          "auth": {"type": "tokenExchange", "tokenUrl": "ftp://as"}},
                  "local": {"auth": {"type": "tokenExchange", "tokenUrl": "https://as"}}}}})",
                          bad));
  EXPECT_TRUE(has_error(bad, "http(s) URL"));
  EXPECT_TRUE(has_error(bad, "replaces forwardAuthorization"));
  EXPECT_TRUE(has_error(bad, "isolation \"session\""));
  EXPECT_TRUE(has_error(bad, "gateway.auth.mode is \"keys\""));
  EXPECT_TRUE(has_error(bad, "http and sse servers only"));
}

}  // namespace
}  // namespace mcpgw::config
