// LiteLLM's config.yaml read as an mcpgw config: what each LiteLLM key becomes, and what a
// user reads when something does not map.
#include "config/json_text.hpp"
#include "config/litellm.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace mcpgw::config {
namespace {

EnvLookup fake_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (name == "GITHUB_TOKEN") {
      return "ghp_from_env";
    }
    if (name == "BASIC_B64") {
      return "dXNlcjpwYXNz";
    }
    return std::nullopt;
  };
}

struct Loaded {
  std::optional<Config> cfg;
  Diagnostics diag;
  LiteLlmConversion conv;

  const ServerConfig& server(std::string_view name) const {
    const auto* s = cfg->find(name);
    if (s == nullptr) {
      throw std::runtime_error("no server " + std::string(name));
    }
    return *s;
  }
  std::string errors() const {
    std::string out;
    for (const auto& e : diag.errors) {
      out += e + "\n";
    }
    return out;
  }
};

Loaded load(std::string_view yaml, LiteLlmOptions options = {}) {
  Loaded r;
  r.cfg = parse_litellm(yaml, "config.yaml", "/etc/mcpgw", r.diag, fake_env(), options, &r.conv);
  return r;
}

bool has(const std::vector<std::string>& lines, std::string_view needle) {
  for (const auto& l : lines) {
    if (l.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST(LiteLlm, EachTransportBecomesAServerOfThatKind) {
  const auto r = load(R"(
mcp_servers:
  deepwiki:
    url: "https://mcp.deepwiki.com/mcp"
  zapier:
    url: "https://actions.zapier.com/mcp/sk-ak-secretpath/sse"
    transport: sse
  circleci:
    transport: "stdio"
    command: "npx"
    args: ["-y", "@circleci/mcp-server-circleci"]
    env:
      CIRCLECI_BASE_URL: "https://circleci.com"
      RETRIES: 3
)");
  ASSERT_TRUE(r.cfg) << r.errors();
  ASSERT_EQ(r.cfg->servers.size(), 3u);
  EXPECT_EQ(r.cfg->servers[0].name, "deepwiki");  // in file order
  EXPECT_EQ(r.server("deepwiki").transport, Transport::http);  // LiteLLM's default
  EXPECT_EQ(r.server("deepwiki").url, "https://mcp.deepwiki.com/mcp");
  EXPECT_EQ(r.server("zapier").transport, Transport::sse);
  const auto& ci = r.server("circleci");
  EXPECT_EQ(ci.transport, Transport::stdio);
  EXPECT_EQ(ci.command, "npx");
  EXPECT_EQ(ci.args, (std::vector<std::string>{"-y", "@circleci/mcp-server-circleci"}));
  EXPECT_EQ(ci.env.at("CIRCLECI_BASE_URL"), "https://circleci.com");
  EXPECT_EQ(ci.env.at("RETRIES"), "3");
  // The report names each server without the URL's path, where a key may be.
  EXPECT_TRUE(has(r.conv.mapped, "mcp_servers.zapier → mcpServers.zapier (sse, "
                                 "https://actions.zapier.com/…)"));
  EXPECT_FALSE(has(r.conv.mapped, "sk-ak-secretpath"));
  EXPECT_TRUE(has(r.conv.mapped, "mcp_servers.circleci.env → env CIRCLECI_BASE_URL, RETRIES"));
}

TEST(LiteLlm, AStdioServerMayLeaveItsTransportOut) {
  const auto r = load("mcp_servers:\n  fs:\n    command: npx\n    args: [server-fs]\n");
  ASSERT_TRUE(r.cfg) << r.errors();
  EXPECT_EQ(r.server("fs").transport, Transport::stdio);
}

TEST(LiteLlm, EachAuthTypeSendsTheHeaderLiteLlmSends) {
  const auto r = load(R"(
mcp_servers:
  bearer: {url: "https://a.example/mcp", auth_type: bearer_token, auth_value: os.environ/GITHUB_TOKEN}
  apikey: {url: "https://b.example/mcp", auth_type: api_key, auth_value: os.environ/GITHUB_TOKEN}
  basic: {url: "https://c.example/mcp", auth_type: basic, auth_value: "user:pass"}
  encoded: {url: "https://c.example/mcp", auth_type: basic, auth_value: os.environ/BASIC_B64}
  raw: {url: "https://d.example/mcp", auth_type: authorization, auth_value: os.environ/GITHUB_TOKEN}
  tok: {url: "https://e.example/mcp", auth_type: token, authentication_token: os.environ/GITHUB_TOKEN}
  open: {url: "https://f.example/mcp", auth_type: none}
)");
  ASSERT_TRUE(r.cfg) << r.errors();
  EXPECT_EQ(r.server("bearer").headers.at("Authorization"), "Bearer ghp_from_env");
  EXPECT_EQ(r.server("apikey").headers.at("X-API-Key"), "ghp_from_env");
  EXPECT_EQ(r.server("basic").headers.at("Authorization"), "Basic dXNlcjpwYXNz");
  EXPECT_EQ(r.server("encoded").headers.at("Authorization"), "Basic dXNlcjpwYXNz");
  EXPECT_TRUE(has(r.diag.warnings, "mcp_servers.encoded.auth_value (line 6): mcpgw sends "
                                   "${BASIC_B64} after \"Basic \" as it is"));
  EXPECT_EQ(r.server("raw").headers.at("Authorization"), "ghp_from_env");
  EXPECT_EQ(r.server("tok").headers.at("Authorization"), "token ghp_from_env");
  EXPECT_TRUE(r.server("open").headers.empty());
}

TEST(LiteLlm, OsEnvironBecomesMcpgwsEnvironmentExpansion) {
  const auto r = load(R"(
mcp_servers:
  github:
    url: https://api.githubcopilot.com/mcp
    auth_type: bearer_token
    auth_value: os.environ/GITHUB_TOKEN
  local:
    transport: stdio
    command: os.environ/SERVER_BIN
)");
  // The converted config keeps the variable; only parsing it reads the environment.
  ASSERT_FALSE(r.cfg);
  EXPECT_EQ(r.conv.doc.at("mcpServers").at("github").at("headers").at("Authorization"),
            "Bearer ${GITHUB_TOKEN}");
  EXPECT_EQ(r.conv.env_vars, (std::set<std::string>{"GITHUB_TOKEN", "SERVER_BIN"}));
  EXPECT_TRUE(has(r.conv.mapped, "mcp_servers.github.auth_type: bearer_token → header "
                                 "Authorization: Bearer ${GITHUB_TOKEN}"));
  // An unset variable is an error at the LiteLLM key that reads it.
  EXPECT_TRUE(has(r.diag.errors, "mcp_servers.local.command: environment variable SERVER_BIN is "
                                 "not set"));

  const auto bad = load("mcp_servers:\n  x:\n    url: https://x/mcp\n    auth_type: api_key\n"
                        "    auth_value: os.environ/NOT-A-NAME\n");
  EXPECT_TRUE(has(bad.diag.errors, "mcp_servers.x.auth_value: \"os.environ/NOT-A-NAME\" does not "
                                   "name an environment variable (line 5)"));
}

TEST(LiteLlm, ALiteralSecretIsCopiedButNeverPrinted) {
  const auto r = load("mcp_servers:\n  x:\n    url: https://x.example/mcp\n"
                      "    auth_type: bearer_token\n    auth_value: sk-literal-123\n");
  ASSERT_TRUE(r.cfg) << r.errors();
  EXPECT_EQ(r.server("x").headers.at("Authorization"), "Bearer sk-literal-123");
  EXPECT_TRUE(has(r.diag.warnings, "mcp_servers.x.auth_value (line 5): a literal secret (mcpgw "
                                   "import copies it into the JSON config); move it to an "
                                   "environment variable: os.environ/NAME, ${NAME} for mcpgw"));
  EXPECT_TRUE(has(r.conv.mapped, "Authorization: Bearer …"));
  for (const auto* lines : {&r.conv.mapped, &r.diag.warnings, &r.diag.errors}) {
    EXPECT_FALSE(has(*lines, "sk-literal-123"));
  }
}

TEST(LiteLlm, OAuth2IsNotMappedYetAndTheServerComesWithoutAuth) {
  const auto r = load(R"(
mcp_servers:
  github_mcp:
    url: "https://api.githubcopilot.com/mcp"
    auth_type: oauth2
    client_id: os.environ/GITHUB_OAUTH_CLIENT_ID
    client_secret: os.environ/GITHUB_OAUTH_CLIENT_SECRET
    scopes: ["public_repo"]
)");
  ASSERT_TRUE(r.cfg) << r.errors();
  EXPECT_TRUE(r.server("github_mcp").headers.empty());
  EXPECT_TRUE(has(r.diag.warnings, "mcp_servers.github_mcp.auth_type (line 5): oauth2 is not "
                                   "mapped yet (mcpgw does not fetch OAuth tokens for servers "
                                   "yet); the server is imported without auth"));
  EXPECT_TRUE(has(r.diag.warnings, "mcp_servers.github_mcp.client_secret (line 7): ignored: an "
                                   "OAuth setting"));
  const auto typo = load("mcp_servers:\n  x: {url: https://x/mcp, auth_type: bearer}\n");
  EXPECT_FALSE(typo.cfg);
  EXPECT_TRUE(has(typo.diag.errors, "mcp_servers.x.auth_type (line 2): unknown auth_type "
                                    "\"bearer\""));
}

TEST(LiteLlm, StaticHeadersAreSentAndExtraHeadersArePassedFromClients) {
  const auto r = load(R"(
mcp_servers:
  gh:
    url: https://api.githubcopilot.com/mcp
    auth_type: api_key
    auth_value: os.environ/GITHUB_TOKEN
    static_headers:
      X-Tenant: acme
      x-api-key: os.environ/GITHUB_TOKEN
    extra_headers: ["Authorization", "X-Custom-Header"]
)");
  ASSERT_TRUE(r.cfg) << r.errors();
  const auto& gh = r.server("gh");
  EXPECT_EQ(gh.headers.at("X-Tenant"), "acme");
  // LiteLLM sends static headers after the auth header: one of the same name wins.
  EXPECT_EQ(gh.headers.count("X-API-Key"), 0u);
  EXPECT_EQ(gh.headers.at("x-api-key"), "ghp_from_env");
  EXPECT_TRUE(has(r.diag.warnings, "mcp_servers.gh.static_headers.x-api-key: replaces the "
                                   "X-API-Key header of auth_type"));
  EXPECT_TRUE(gh.options.forward_authorization);
  EXPECT_EQ(gh.options.pass_headers, (std::vector<std::string>{"x-custom-header"}));
  EXPECT_TRUE(has(r.diag.warnings, "mcp_servers.gh.extra_headers (line 10): clients now send "
                                   "these as x-mcp-gh-HEADER (x-mcp-gh-x-custom-header: …)"));
  EXPECT_TRUE(has(r.conv.mapped, "mcp_servers.gh.static_headers → headers X-Tenant, x-api-key"));
}

TEST(LiteLlm, AYamlMistakeSaysItsLineAndColumn) {
  const auto r = load("mcp_servers:\n  gh:\n    url: [https://x\n    transport: http\n");
  EXPECT_FALSE(r.cfg);
  ASSERT_EQ(r.diag.errors.size(), 1u);
  EXPECT_EQ(r.diag.errors[0],
            "config.yaml: not valid YAML at line 4, column 14: end of sequence flow not found");
  const auto nested = load("mcp_servers:\n  gh: url: x\n");
  EXPECT_TRUE(has(nested.diag.errors, "config.yaml: not valid YAML at line 2, column 10: illegal map value"));
}

TEST(LiteLlm, AServerGivenTwiceIsAnError) {
  const auto r = load("mcp_servers:\n  gh: {url: https://a/mcp}\n  gh: {url: https://b/mcp}\n");
  EXPECT_FALSE(r.cfg);
  EXPECT_TRUE(has(r.diag.errors, "mcp_servers.gh: given twice (line 2 and line 3)"));
}

TEST(LiteLlm, KeysMcpgwDoesNotHaveAreWarnedWithWhy) {
  const auto r = load(R"(
mcp_servers:
  gh:
    url: https://api.githubcopilot.com/mcp
    description: "GitHub tools"
    access_groups: ["dev"]
    mcp_info: {logo_url: x}
    colour: blue
    allowed_tools: ["list_repos", "get_issue"]
  fs:
    command: npx
    disallowed_tools: ["delete_file"]
)");
  ASSERT_TRUE(r.cfg) << r.errors();
  const auto& w = r.diag.warnings;
  EXPECT_TRUE(has(w, "mcp_servers.gh.description (line 5): ignored: mcpgw keeps no description"));
  EXPECT_TRUE(has(w, "mcp_servers.gh.access_groups (line 6): ignored: mcpgw grants servers per "
                     "key: mcpgw keys create --servers NAME"));
  EXPECT_TRUE(has(w, "mcp_servers.gh.mcp_info (line 7): ignored"));
  EXPECT_TRUE(has(w, "mcp_servers.gh.colour (line 8): not a LiteLLM MCP server setting mcpgw "
                     "knows; ignored"));
  // No per-server tool filter in mcpgw: keys do it, and the hint has the exposed names.
  EXPECT_TRUE(has(w, "mcp_servers.gh.allowed_tools: not applied: every tool of this server is "
                     "served. mcpgw limits tools per key: mcpgw keys create --name NAME --tools "
                     "'gh__list_repos,gh__get_issue,fs__*'"));
  EXPECT_TRUE(has(w, "mcp_servers.fs.disallowed_tools: not applied: every tool of this server is "
                     "served. mcpgw limits tools per key: mcpgw keys create --name NAME "
                     "--deny-tools 'fs__delete_file'"));
}

TEST(LiteLlm, AServerNameMcpgwCannotServeIsAnErrorNamingTheServer) {
  const auto r = load("mcp_servers:\n  my server:\n    url: https://x/mcp\n");
  EXPECT_FALSE(r.cfg);
  EXPECT_TRUE(has(r.diag.errors, "mcp_servers.my server: server name \"my server\" may only "
                                 "contain letters, digits"));
}

TEST(LiteLlm, ErrorsOfTheJsonConfigNameTheLiteLlmKeys) {
  const auto r = load("mcp_servers:\n  remote: {transport: sse}\n  local: {transport: stdio}\n"
                      "  bad: {url: ftp://x}\n");
  EXPECT_FALSE(r.cfg);
  EXPECT_TRUE(has(r.diag.errors, "mcp_servers.remote.url: a sse server needs a url"));
  EXPECT_TRUE(has(r.diag.errors, "mcp_servers.local.command: a stdio server needs a command"));
  EXPECT_TRUE(has(r.diag.errors, "mcp_servers.bad.url: expected an http:// or https:// URL"));
  const auto t = load("mcp_servers:\n  x: {url: https://x/mcp, transport: streamable_http}\n");
  EXPECT_TRUE(has(t.diag.errors, "mcp_servers.x.transport (line 2): unknown transport "
                                 "\"streamable_http\" (LiteLLM's are http, sse and stdio)"));
}

TEST(LiteLlm, KeepLiteLlmNamesSetsTheDashSeparator) {
  const std::string yaml = "mcp_servers:\n  github: {url: https://x/mcp}\n";
  const auto plain = load(yaml);
  ASSERT_TRUE(plain.cfg) << plain.errors();
  EXPECT_EQ(plain.cfg->gateway.separator, "__");  // not changed unless asked
  const auto kept = load(yaml, {.keep_litellm_names = true});
  ASSERT_TRUE(kept.cfg) << kept.errors();
  EXPECT_EQ(kept.cfg->gateway.separator, "-");
  EXPECT_EQ(kept.conv.doc.at("gateway").at("separator"), "-");
  // The same from the YAML itself, in the mcpgw section.
  const auto section = load(yaml + "mcpgw:\n  separator: \"-\"\n");
  ASSERT_TRUE(section.cfg) << section.errors();
  EXPECT_EQ(section.cfg->gateway.separator, "-");
  // With "-" between server and tool, a server name holding "-" could not be split back.
  const auto dash = load("mcp_servers:\n  git-hub: {url: https://x/mcp}\n",
                         {.keep_litellm_names = true});
  EXPECT_FALSE(dash.cfg);
  EXPECT_TRUE(has(dash.diag.errors, "mcp_servers.git-hub: server name \"git-hub\" must not "
                                    "contain the separator \"-\""));
}

TEST(LiteLlm, AnAliasNamesTheServerAsItPrefixedTheTools) {
  const auto r = load("mcp_servers:\n  github_mcp_server:\n    url: https://x/mcp\n"
                      "    alias: github\n");
  ASSERT_TRUE(r.cfg) << r.errors();
  EXPECT_NE(r.cfg->find("github"), nullptr);
  EXPECT_TRUE(has(r.conv.mapped, "mcp_servers.github_mcp_server → mcpServers.github (http"));
  const auto twice = load("mcp_servers:\n  a: {url: https://x/mcp, alias: gh}\n"
                          "  gh: {url: https://y/mcp}\n");
  EXPECT_TRUE(has(twice.diag.errors, "mcp_servers.gh: two servers would be named \"gh\""));
}

TEST(LiteLlm, TimeoutSecondsBecomeTheServersCallTimeout) {
  const auto r = load("mcp_servers:\n  slow: {url: https://x/mcp, timeout: 2.5}\n");
  ASSERT_TRUE(r.cfg) << r.errors();
  ASSERT_TRUE(r.server("slow").options.call_timeout);
  EXPECT_EQ(r.server("slow").options.call_timeout->count(), 2500);
  const auto bad = load("mcp_servers:\n  slow: {url: https://x/mcp, timeout: soon}\n");
  EXPECT_TRUE(has(bad.diag.errors, "mcp_servers.slow.timeout (line 2): expected a number of "
                                   "seconds"));
}

TEST(LiteLlm, OtherSectionsOfALiteLlmConfigAreIgnoredWithAWarning) {
  const auto r = load(R"(
model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_key: sk-xxxxxxx}
litellm_settings:
  mcp_aliases: {github: github_mcp_server}
general_settings:
  master_key: sk-1234
router_settings: {routing_strategy: simple-shuffle}
environment_variables:
  GITHUB_TOKEN: ghp_in_the_file
mcp_servers:
  github_mcp_server: {url: https://x/mcp}
)");
  ASSERT_TRUE(r.cfg) << r.errors();
  const auto& w = r.diag.warnings;
  EXPECT_TRUE(has(w, "model_list: not an MCP setting; mcpgw ignores it (line 3)"));
  EXPECT_TRUE(has(w, "general_settings: not an MCP setting"));
  EXPECT_TRUE(has(w, "router_settings: not an MCP setting"));
  EXPECT_TRUE(has(w, "litellm_settings: not an MCP setting"));
  EXPECT_TRUE(has(w, "litellm_settings.mcp_aliases: not applied: give the server an alias"));
  EXPECT_TRUE(has(w, "environment_variables: mcpgw does not set environment variables from its "
                     "config: export them where mcpgw runs"));
  for (const auto* lines : {&r.conv.mapped, &r.diag.warnings}) {
    EXPECT_FALSE(has(*lines, "ghp_in_the_file"));
    EXPECT_FALSE(has(*lines, "sk-1234"));
  }
  const auto none = load("model_list: []\n");
  EXPECT_TRUE(has(none.diag.errors, "mcp_servers: missing"));
}

TEST(LiteLlm, TheMcpgwSectionIsTheGatewayObject) {
  const auto r = load(R"(
mcp_servers:
  gh:
    url: https://x/mcp
    extra_headers: [x-user-token]
mcpgw:
  listen: "127.0.0.1:9000"
  limits: {maxBodyBytes: 1024}
  servers:
    gh: {callTimeoutMs: 5000}
)");
  ASSERT_TRUE(r.cfg) << r.errors();
  EXPECT_EQ(r.cfg->gateway.listen_port, 9000);
  EXPECT_EQ(r.cfg->gateway.limits.max_body_bytes, 1024u);
  // The section's server options and the ones mapped from mcp_servers are merged.
  EXPECT_EQ(r.server("gh").options.call_timeout->count(), 5000);
  EXPECT_EQ(r.server("gh").options.pass_headers, (std::vector<std::string>{"x-user-token"}));
  const auto bad = load("mcp_servers: {}\nmcpgw:\n  limits: {maxBody: 1}\n");
  EXPECT_TRUE(has(bad.diag.errors, "mcpgw.limits.maxBody: unknown key"));
}

TEST(LiteLlm, AnOpenApiServerIsNotImported) {
  const auto r = load("mcp_servers:\n  petstore: {url: https://p/v2, spec_path: /x/openapi.json}\n"
                      "  gh: {url: https://x/mcp}\n");
  ASSERT_TRUE(r.cfg) << r.errors();
  EXPECT_EQ(r.cfg->servers.size(), 1u);
  EXPECT_TRUE(has(r.diag.warnings, "mcp_servers.petstore.spec_path (line 2): LiteLLM makes tools "
                                   "of an OpenAPI spec; mcpgw serves MCP servers only"));
}

TEST(LiteLlm, AnSseLookingUrlWithoutTransportIsTakenAsLiteLlmDoes) {
  const auto r = load("mcp_servers:\n  zapier: {url: https://actions.zapier.com/mcp/x/sse}\n");
  ASSERT_TRUE(r.cfg) << r.errors();
  EXPECT_EQ(r.server("zapier").transport, Transport::http);
  EXPECT_TRUE(has(r.diag.warnings, "add transport: sse if this is a legacy SSE endpoint"));
}

TEST(LiteLlm, LoadFileReadsAYamlFileAsALiteLlmConfig) {
  const auto dir = std::filesystem::temp_directory_path() / "mcpgw-litellm-test";
  std::filesystem::create_directories(dir);
  for (const char* name : {"config.yaml", "config.YML"}) {
    const auto file = (dir / name).string();
    std::ofstream(file) << "mcp_servers:\n  gh:\n    url: https://x/mcp\n";
    Diagnostics d;
    const auto cfg = load_file(file, d);
    ASSERT_TRUE(cfg) << name;
    EXPECT_EQ(cfg->servers.at(0).name, "gh");
    EXPECT_EQ(cfg->base_dir, dir.lexically_normal().string());
  }
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(is_yaml_path("a/b.yaml"));
  EXPECT_FALSE(is_yaml_path("mcpgw.json"));
}

TEST(LiteLlm, TheConvertedConfigPrintsAsJsonThatReadsBackTheSame) {
  const auto r = load("mcp_servers:\n  fs: {command: npx, args: [-y, server-fs]}\n"
                      "  gh: {url: https://x/mcp, auth_type: bearer_token, "
                      "auth_value: os.environ/GITHUB_TOKEN, extra_headers: [x-a]}\n",
                      {.keep_litellm_names = true});
  ASSERT_TRUE(r.cfg) << r.errors();
  const std::string text = pretty_json(r.conv.doc);
  EXPECT_EQ(boost::json::parse(text), r.conv.doc);
  EXPECT_NE(text.find("\n  \"mcpServers\": {\n    \"fs\": {\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\"args\": [\"-y\", \"server-fs\"]"), std::string::npos) << text;
  Diagnostics d;
  EXPECT_TRUE(parse(boost::json::parse(text), "/etc/mcpgw", d, fake_env()));
}

}  // namespace
}  // namespace mcpgw::config
