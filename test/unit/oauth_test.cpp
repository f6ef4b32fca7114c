// The gateway's OAuth client toward remote servers: discovery's parsing, the tokens as kept in
// the vault, consent links, and the config that turns it on.
#include "common/text.hpp"
#include "config/config.hpp"
#include "upstream/oauth_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

namespace mcpgw::upstream {
namespace {

TEST(OAuthDiscovery, ReadsResourceMetadataFromTheChallenge) {
  EXPECT_EQ(resource_metadata_param(R"(Bearer error="invalid_token", )"
                                    R"(resource_metadata="https://a.example/.well-known/x")"),
            "https://a.example/.well-known/x");
  EXPECT_EQ(resource_metadata_param("Bearer resource_metadata=https://b/m, scope=\"x\""),
            "https://b/m");
  EXPECT_EQ(resource_metadata_param(R"(Bearer xresource_metadata="https://evil/")"), "");
  EXPECT_EQ(resource_metadata_param("Bearer realm=\"x\""), "");
}

TEST(OAuthDiscovery, LooksInTheWellKnownPlacesInOrder) {
  EXPECT_EQ(resource_metadata_urls("https://mcp.example/v1/mcp?x=1"),
            (std::vector<std::string>{
                "https://mcp.example/.well-known/oauth-protected-resource/v1/mcp",
                "https://mcp.example/.well-known/oauth-protected-resource"}));
  EXPECT_EQ(auth_server_metadata_urls("https://as.example/"),
            (std::vector<std::string>{"https://as.example/.well-known/oauth-authorization-server",
                                      "https://as.example/.well-known/openid-configuration"}));
  EXPECT_EQ(auth_server_metadata_urls("https://as.example/tenant1"),
            (std::vector<std::string>{
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/.well-known/openid-configuration/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration"}));
  EXPECT_TRUE(resource_metadata_urls("not a url").empty());
}

TEST(OAuthTokens, RoundTripThroughTheVaultsJson) {
  OAuthTokens t;
  t.access_token = "at";
  t.refresh_token = "rt";
  t.expires_at = 1900000000;
  t.renew_at = 1899999970;
  t.token_endpoint = "https://as/token";
  t.client_id = "c";
  t.client_secret = "s";
  t.resource = "https://mcp/";
  t.revocation_endpoint = "https://as/revoke";
  t.secret_in_form = true;
  auto back = OAuthTokens::from_json(t.to_json());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_json(), t.to_json());
  EXPECT_EQ(back->revocation_endpoint, "https://as/revoke");
  EXPECT_EQ(back->renew_at, 1899999970);
  EXPECT_FALSE(OAuthTokens::from_json(R"({"refresh_token":"rt"})")) << "no access token";
  EXPECT_FALSE(OAuthTokens::from_json("not json"));
}

TEST(OAuthText, LogsLeaveTheTicketOut) {
  EXPECT_EQ(without_param("open http://g/oauth/start?server=s&ticket=SECRET in a browser",
                          "ticket"),
            "open http://g/oauth/start?server=s&ticket=… in a browser");
  EXPECT_EQ(without_param("a?ticket=X&b=1 and c?ticket=Y", "ticket"), "a?ticket=…&b=1 and c?ticket=…");
  EXPECT_EQ(without_param("nothing here", "ticket"), "nothing here");
}

class ConsentLinks : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("mcpgw-oauth-test-" + std::to_string(::getpid()) + ".db");
    std::string error;
    auto store = access::open_vault_store(path_.string(), std::chrono::milliseconds(1000), error);
    ASSERT_TRUE(store) << error;
    Sealer::Key key{};
    key.fill(7);
    vault_ = std::make_shared<access::VaultReader>(
        std::make_unique<access::Vault>(Sealer(key), std::move(store)));
  }
  void TearDown() override {
    vault_.reset();
    std::filesystem::remove(path_);
  }
  std::shared_ptr<OAuthClient> client(const std::string& name) {
    config::ServerConfig s;
    s.name = name;
    s.url = "https://" + name + ".example/mcp";
    s.options.auth.type = config::UpstreamAuth::Type::oauth;
    return std::make_shared<OAuthClient>(io_.get_executor(), s, gateway_, vault_,
                                         "https://gw.example");
  }
  static std::string ticket_of(const std::string& link) {
    return link.substr(link.find("ticket=") + 7);
  }

  boost::asio::io_context io_;
  config::GatewayConfig gateway_;
  std::filesystem::path path_;
  std::shared_ptr<access::VaultReader> vault_;
};

TEST_F(ConsentLinks, OpenForTheirUserAndServerOnly) {
  auto slack = client("slack");
  const auto link = slack->consent_url("alice");
  EXPECT_TRUE(link.starts_with("https://gw.example/oauth/start?server=slack&ticket=")) << link;
  EXPECT_EQ(slack->consent_url("alice"), link) << "one link while it is young";
  EXPECT_NE(slack->consent_url("bob"), link);
  auto ticket = ticket_of(link);
  EXPECT_EQ(slack->open_ticket(ticket), "alice");
  EXPECT_FALSE(client("github")->open_ticket(ticket)) << "a ticket for another server";
  ticket[ticket.size() / 2] = ticket[ticket.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(slack->open_ticket(ticket)) << "altered";
  EXPECT_FALSE(slack->open_ticket(""));
  // A ticket is not a callback's state: sealed for another purpose.
  EXPECT_FALSE(open_consent_state(vault_->sealer(), ticket_of(link)));
}

TEST_F(ConsentLinks, TheClientMetadataDocumentNamesItselfAndTheCallback) {
  const auto doc = boost::json::parse(client_metadata_document("https://gw.example"));
  EXPECT_EQ(doc.at("client_id"), "https://gw.example/oauth/client.json");
  EXPECT_EQ(doc.at("redirect_uris").at(0), "https://gw.example/oauth/callback");
  EXPECT_EQ(doc.at("token_endpoint_auth_method"), "none");
}

TEST(OAuthConfig, IsReadAndChecked) {
  config::Diagnostics d;
  auto cfg = config::parse(boost::json::parse(R"({
    "mcpServers": {"slack": {"url": "https://slack.example/mcp"}},
    "gateway": {"auth": {"mode": "keys"}, "publicUrl": "https://gw.example/",
      "servers": {"slack": {"auth": {"type": "oauth", "scope": "chat:read"}}}}})"),
                           "/etc/mcpgw", d, [](const std::string&) { return std::nullopt; });
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  const auto& s = cfg->servers.front();
  EXPECT_EQ(s.options.auth.type, config::UpstreamAuth::Type::oauth);
  EXPECT_EQ(s.options.auth.resource, "") << "the resource metadata's, when the server says";
  EXPECT_TRUE(s.needs_vault());
  EXPECT_EQ(cfg->gateway.public_url, "https://gw.example");

  config::Diagnostics bad;
  EXPECT_FALSE(config::parse(boost::json::parse(R"({
    "mcpServers": {"slack": {"url": "https://slack.example/mcp"}, "local": {"command": "x"}},
    "gateway": {"auth": {"mode": "none"}, "publicUrl": "ftp://gw",
      "servers": {"slack": {"shareable": true, "auth": {"type": "oauth"}},
                  "local": {"isolation": "session", "auth": {"type": "oauth"}}}}})"),
                             "/etc/mcpgw", bad, [](const std::string&) { return std::nullopt; }));
  const auto has = [&bad](std::string_view needle) {
    return std::any_of(bad.errors.begin(), bad.errors.end(),
                       [&](const std::string& e) { return e.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(has("gateway.publicUrl"));
  EXPECT_TRUE(has("oauth needs isolation \"session\""));
  EXPECT_TRUE(has("oauth applies to http and sse servers only"));
  EXPECT_TRUE(has("gateway.auth.mode is \"none\""));
}

}  // namespace
}  // namespace mcpgw::upstream
