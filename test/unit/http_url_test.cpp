#include "upstream/http_client.hpp"

#include <gtest/gtest.h>

namespace mcpgw::upstream {
namespace {

TEST(HttpUrl, SplitsAbsoluteUrls) {
  Url u;
  std::string error;
  ASSERT_TRUE(parse_url("https://mcp.example.com/v1/mcp?team=a", u, error)) << error;
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "mcp.example.com");
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.target, "/v1/mcp?team=a");
  EXPECT_EQ(u.origin(), "https://mcp.example.com");
  EXPECT_EQ(u.host_header(), "mcp.example.com");
  EXPECT_EQ(u.display(), "https://mcp.example.com/v1/mcp") << "no query: it may carry a key";

  ASSERT_TRUE(parse_url("http://127.0.0.1:8931", u, error)) << error;
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.port, "8931");
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.origin(), "http://127.0.0.1:8931");

  ASSERT_TRUE(parse_url("http://[::1]:9000/sse", u, error)) << error;
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.host_header(), "[::1]:9000");
}

TEST(HttpUrl, RefusesWhatIsNotHttp) {
  Url u;
  std::string error;
  EXPECT_FALSE(parse_url("ftp://example.com/x", u, error));
  EXPECT_NE(error.find("http"), std::string::npos);
  EXPECT_FALSE(parse_url("/relative/path", u, error));
  EXPECT_FALSE(parse_url("http:///nohost", u, error));
}

TEST(HttpUrl, ResolvesEndpointEventsAgainstTheStreamUrl) {
  Url base;
  std::string error;
  ASSERT_TRUE(parse_url("http://127.0.0.1:8000/db/sse", base, error));
  Url out;
  ASSERT_TRUE(resolve_url(base, "/messages?sessionId=abc", out, error)) << error;
  EXPECT_EQ(out.origin(), "http://127.0.0.1:8000");
  EXPECT_EQ(out.target, "/messages?sessionId=abc");
  ASSERT_TRUE(resolve_url(base, "message?sessionId=1", out, error)) << error;
  EXPECT_EQ(out.target, "/db/message?sessionId=1");
  ASSERT_TRUE(resolve_url(base, "https://elsewhere.example/m", out, error)) << error;
  EXPECT_EQ(out.origin(), "https://elsewhere.example");  // the backend refuses other origins
}

}  // namespace
}  // namespace mcpgw::upstream
