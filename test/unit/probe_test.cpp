// The pure parts of `mcpgw probe`: reading WWW-Authenticate, where OAuth metadata is looked
// for, the server name, hidden header values, the configs and the report a user reads.
#include "client/probe_auth.hpp"
#include "client/probe_config.hpp"
#include "client/probe_http.hpp"
#include "client/probe_report.hpp"
#include "config/json_text.hpp"

#include <boost/json/parse.hpp>
#include <fmt/format.h>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace json = boost::json;
using namespace mcpgw::client;

namespace {

mcpgw::upstream::Url url(std::string_view text) {
  mcpgw::upstream::Url u;
  std::string err;
  EXPECT_TRUE(mcpgw::upstream::parse_url(text, u, err)) << err;
  return u;
}

/// Findings of a server that works over Streamable HTTP and legacy SSE at the same URL.
Findings working(const std::string& at, std::size_t tools) {
  Findings f;
  f.reachable = true;
  f.transport = "http";
  f.working_url = at;
  f.server_name = "mcpgw";
  f.server_version = "1.0.0";
  f.protocol_version = "2025-11-25";
  f.checks.push_back({"reach", "reachable", Mark::ok, "connected to 127.0.0.1:9", at});
  f.checks.push_back({"discover", "2026-07-28 (server/discover)", Mark::info,
                      "does not speak 2026-07-28", at});
  f.checks.push_back({"sse.initialize", "legacy SSE: initialize", Mark::ok, "ok", at});
  for (std::size_t i = 0; i < tools; ++i) {
    f.tools.push_back({fmt::format("tool{}", i), "Does a thing"});
  }
  return f;
}

}  // namespace

TEST(ProbeAuth, BearerChallengeWithResourceMetadata) {
  const auto c = parse_www_authenticate(
      R"(Bearer realm="mcp", resource_metadata="https://x.example/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="the \"key\" expired")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "Bearer");
  EXPECT_EQ(c[0].params.at("realm"), "mcp");
  EXPECT_EQ(c[0].params.at("resource_metadata"),
            "https://x.example/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(c[0].params.at("error"), "invalid_token");
  EXPECT_EQ(c[0].params.at("error_description"), "the \"key\" expired");
}

TEST(ProbeAuth, SeveralChallengesAndUnquotedValues) {
  const auto c = parse_www_authenticate("Basic realm=api, Bearer scope=read Error=x");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "Basic");
  EXPECT_EQ(c[0].params.at("realm"), "api");
  EXPECT_EQ(c[1].scheme, "Bearer");
  EXPECT_EQ(c[1].params.at("scope"), "read");
  EXPECT_EQ(c[1].params.at("error"), "x") << "parameter names are case-insensitive";
  EXPECT_TRUE(parse_www_authenticate("").empty());
  EXPECT_EQ(parse_www_authenticate("Bearer").at(0).params.size(), 0u);
  EXPECT_TRUE(parse_www_authenticate("=x, realm=\"y\"").empty()) << "no scheme, no challenge";
}

TEST(ProbeAuth, WellKnownUrlsInsertThePath) {
  EXPECT_EQ(protected_resource_urls(url("https://h.example/api/mcp/")),
            (std::vector<std::string>{
                "https://h.example/.well-known/oauth-protected-resource/api/mcp",
                "https://h.example/.well-known/oauth-protected-resource"}));
  EXPECT_EQ(protected_resource_urls(url("http://127.0.0.1:8080")),
            (std::vector<std::string>{"http://127.0.0.1:8080/.well-known/oauth-protected-resource"}));
  EXPECT_EQ(authorization_server_urls(url("https://auth.example")).front(),
            "https://auth.example/.well-known/oauth-authorization-server");
  EXPECT_EQ(authorization_server_urls(url("https://auth.example/tenant")).front(),
            "https://auth.example/.well-known/oauth-authorization-server/tenant");
}

TEST(ProbeName, FromTheHost) {
  EXPECT_EQ(name_from_url(url("https://mcp.notion.com/mcp")), "notion");
  EXPECT_EQ(name_from_url(url("https://api.githubcopilot.com/mcp/")), "githubcopilot");
  EXPECT_EQ(name_from_url(url("https://my-server.workers.dev/sse")), "my_server");
  EXPECT_EQ(name_from_url(url("http://127.0.0.1:8080/mcp")), "local_8080");
  EXPECT_EQ(name_from_url(url("http://localhost:3000/mcp")), "local_3000");
  EXPECT_EQ(name_from_url(url("http://[::1]:9/mcp")), "local_9");
  EXPECT_EQ(name_from_url(url("http://10.1.2.3/mcp")), "host_10_1_2_3");
  EXPECT_EQ(name_from_url(url("http://mcp.api.com/")), "mcp");
  EXPECT_EQ(sanitize_name("My Server--2"), "my_server_2");
  EXPECT_EQ(sanitize_name("--"), "server");
}

TEST(ProbeConfig, ValuesAreHiddenUnlessAsked) {
  EXPECT_EQ(shown_value("Bearer sk-123", false), "Bearer <value you passed>");
  EXPECT_EQ(shown_value("sk-123", false), "<value you passed>");
  EXPECT_EQ(shown_value("Bearer sk-123", true), "Bearer sk-123");
  EXPECT_EQ(shell_quote("http://a.example/mcp"), "http://a.example/mcp");
  EXPECT_EQ(shell_quote("http://a.example/mcp?k=1&x=it's"), R"('http://a.example/mcp?k=1&x=it'\''s')");
}

TEST(ProbeConfig, EveryClientsConfig) {
  const std::vector<Header> headers{{"Authorization", "Bearer sk-123"}, {"X-Team", "a$b"}};
  const auto c = client_configs("notion", "http", "https://mcp.notion.com/mcp", headers, false);
  EXPECT_EQ(c.claude_code,
            "claude mcp add --transport http notion https://mcp.notion.com/mcp "
            "--header \"Authorization: Bearer <value you passed>\" "
            "--header \"X-Team: <value you passed>\"");
  EXPECT_EQ(json::serialize(c.mcp_json),
            R"({"mcpServers":{"notion":{"type":"http","url":"https://mcp.notion.com/mcp",)"
            R"("headers":{"Authorization":"Bearer <value you passed>","X-Team":"<value you passed>"}}}})");
  EXPECT_EQ(c.mcpgw, c.mcp_json);
  EXPECT_EQ(json::serialize(c.claude_desktop),
            R"({"mcpServers":{"notion":{"command":"mcpgw","args":["stdio","--url",)"
            R"("https://mcp.notion.com/mcp","--header","Authorization: Bearer <value you passed>",)"
            R"("--header","X-Team: <value you passed>"]}}})");
  const auto shown = client_configs("x", "sse", "http://h/sse", headers, true);
  EXPECT_NE(shown.claude_code.find(R"(--header "X-Team: a\$b")"), std::string::npos)
      << shown.claude_code;
  EXPECT_EQ(json::serialize(client_configs("x", "sse", "http://h/sse", {}, false).mcp_json),
            R"({"mcpServers":{"x":{"type":"sse","url":"http://h/sse"}}})");
}

TEST(ProbeReport, TableToolsVerdictAndConfigs) {
  const std::string at = "http://127.0.0.1:9/mcp";
  const auto f = working(at, 53);
  const std::string text = render_text(f, {at, "local_9", {{"Authorization", "Bearer k"}}, false});
  EXPECT_NE(text.find("  ✓  reachable                     connected to 127.0.0.1:9\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  –  2026-07-28 (server/discover)  does not speak"), std::string::npos);
  EXPECT_NE(text.find("Tools (53):\n  tool0   Does a thing\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  tool49  Does a thing\n  and 3 more\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("tool50"), std::string::npos);
  EXPECT_NE(text.find("Verdict: works over Streamable HTTP at http://127.0.0.1:9/mcp. Legacy SSE "
                      "clients work at the same URL too."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("claude mcp add --transport http local_9 http://127.0.0.1:9/mcp --header "
                      "\"Authorization: Bearer <value you passed>\""),
            std::string::npos);
  EXPECT_NE(text.find("      \"local_9\": {\n        \"type\": \"http\",\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("--show-secrets prints them"), std::string::npos);
  EXPECT_EQ(text.find("Bearer k\""), std::string::npos) << "the key itself is not printed";
}

TEST(ProbeReport, NothingWorks) {
  Findings f;
  f.checks.push_back({"reach", "reachable", Mark::fail,
                      "nothing listens on 127.0.0.1:9 (connection refused)", "http://127.0.0.1:9/mcp"});
  f.failure = "nothing listens on 127.0.0.1:9 (connection refused)";
  const std::string text = render_text(f, {"http://127.0.0.1:9/mcp", "local_9", {}, false});
  EXPECT_NE(text.find("  ✗  reachable  nothing listens on 127.0.0.1:9 (connection refused)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Verdict: does not work: nothing listens"), std::string::npos);
  EXPECT_EQ(text.find("Tools"), std::string::npos);
  EXPECT_EQ(text.find("claude mcp add"), std::string::npos);
  const auto j = render_json(f, {"http://127.0.0.1:9/mcp", "local_9", {}, false});
  EXPECT_FALSE(j.at("ok").as_bool());
  EXPECT_TRUE(j.at("transport").is_null());
  EXPECT_TRUE(j.at("configs").is_null());
  EXPECT_FALSE(j.at("checks").at(0).at("ok").as_bool());
}

TEST(ProbeReport, JsonForScripts) {
  const std::string at = "http://127.0.0.1:9/mcp";
  const auto j = render_json(working(at, 2), {at, "local_9", {}, false});
  EXPECT_TRUE(j.at("ok").as_bool());
  EXPECT_EQ(j.at("transport").as_string(), "http");
  EXPECT_EQ(j.at("workingUrl").as_string(), at);
  EXPECT_EQ(j.at("server").at("name").as_string(), "mcpgw");
  EXPECT_EQ(j.at("toolCount").to_number<std::size_t>(), 2u);
  EXPECT_EQ(j.at("checks").at(1).at("id").as_string(), "discover");
  EXPECT_TRUE(j.at("checks").at(1).at("ok").is_null()) << "– is neither true nor false";
  EXPECT_EQ(j.at("configs").at("claudeCode").as_string(),
            "claude mcp add --transport http local_9 http://127.0.0.1:9/mcp");
  // The pretty form is the same JSON.
  EXPECT_EQ(json::parse(mcpgw::config::pretty_json(j)), json::value(j));
  EXPECT_EQ(mcpgw::config::pretty_json(json::parse(R"({"a":[1,{}],"b":{},"c":["x","y"]})")),
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": {},\n  \"c\": [\"x\", \"y\"]\n}");
}

TEST(ProbeWords, RepliesInWords) {
  using namespace mcpgw::client::probe_detail;
  Reply r;
  r.status = 400;
  r.body = R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: Mcp-Session-Id header is required"}})";
  EXPECT_EQ(failure_text(r, std::chrono::seconds(5)),
            "HTTP 400: -32000 Bad Request: Mcp-Session-Id header is required");
  r.status = 401;
  r.body = R"({"error":"invalid_token","error_description":"expired"})";
  EXPECT_EQ(failure_text(r, std::chrono::seconds(5)), "HTTP 401: invalid_token: expired");
  r.body = "<html>\n  <h1>Not here</h1>\n</html>";
  r.status = 404;
  EXPECT_EQ(failure_text(r, std::chrono::seconds(5)), "HTTP 404: Not here");
  r.body = "<!DOCTYPE html><html><head><title>Error</title></head><body><pre>Cannot POST /sse</pre>"
           "</body></html>";
  EXPECT_EQ(failure_text(r, std::chrono::seconds(5)), "HTTP 404: Cannot POST /sse");
  r.status = 405;
  r.body = R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Method not allowed."}})";
  EXPECT_EQ(failure_text(r, std::chrono::seconds(5)), "HTTP 405: -32000 Method not allowed")
      << "no period before what the caller adds";
  Reply t;
  t.timed_out = true;
  EXPECT_EQ(failure_text(t, std::chrono::seconds(5)), "no answer within 5 s");
  EXPECT_EQ(failure_text(t, std::chrono::milliseconds(500)), "no answer within 0.5 s");
  EXPECT_EQ(excerpt(std::string(300, 'a'), 200), std::string(200, 'a') + "…");
  EXPECT_EQ(excerpt("é" + std::string(10, 'b'), 1), "…") << "never half a character";
}
