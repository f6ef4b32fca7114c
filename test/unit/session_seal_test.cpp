#include "relay/session_seal.hpp"

#include <gtest/gtest.h>

namespace mcpgw::relay {
namespace {

SealedSession sample() {
  SealedSession st;
  st.replica = "gw-a";
  st.opened_ms = 1'764'000'000'000;
  st.endpoint = "/mcp";
  st.principal = "alice";
  st.scope_name = "team-1";
  st.whole_view = true;
  st.view = {"demo", "files"};
  st.version = "2025-06-18";
  st.capabilities["elicitation"] = json::object();
  st.client_info["name"] = "claude-code";
  return st;
}

TEST(SealedSession, CarriesWhatTheSessionWasOpenedWith) {
  const Sealer sealer = Sealer::random();
  const std::string id = seal_session(sealer, sample());
  for (char c : id) {
    EXPECT_TRUE(c >= 0x21 && c <= 0x7E) << "Mcp-Session-Id must be visible ASCII";
  }
  EXPECT_EQ(id.find("alice"), std::string::npos) << "nothing of it shows";
  EXPECT_NE(id, seal_session(sealer, sample())) << "two sessions never share an id";
  auto st = open_sealed_session(sealer, id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->replica, "gw-a");
  EXPECT_EQ(st->opened_ms, 1'764'000'000'000);
  EXPECT_EQ(st->transport, ClientTransport::streamable_http);
  EXPECT_EQ(st->endpoint, "/mcp");
  EXPECT_EQ(st->principal, "alice");
  EXPECT_EQ(st->scope_name, "team-1");
  EXPECT_TRUE(st->whole_view);
  EXPECT_FALSE(st->single_server);
  EXPECT_FALSE(st->isolated);
  EXPECT_EQ(st->view, (std::vector<std::string>{"demo", "files"}));
  EXPECT_EQ(st->version, "2025-06-18");
  EXPECT_TRUE(st->capabilities.contains("elicitation"));
  EXPECT_EQ(st->client_info.at("name"), "claude-code");
}

TEST(SealedSession, RefusesForeignAlteredAndOtherTokens) {
  const Sealer sealer = Sealer::random();
  const std::string id = seal_session(sealer, sample());
  EXPECT_FALSE(open_sealed_session(Sealer::random(), id)) << "another cluster's key";
  std::string altered = id;
  altered[id.size() / 2] = altered[id.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(open_sealed_session(sealer, altered));
  EXPECT_FALSE(open_sealed_session(sealer, "0123456789abcdef0123456789abcdef"))
      << "a random id of a single gateway";
  EXPECT_FALSE(open_sealed_session(sealer, sealer.seal("{}", "mrtr-request-state")))
      << "a token sealed for another purpose";
}

}  // namespace
}  // namespace mcpgw::relay
