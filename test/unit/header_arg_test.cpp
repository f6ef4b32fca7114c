#include "client/header_arg.hpp"

#include <gtest/gtest.h>

using mcpgw::client::Header;
using mcpgw::client::parse_header_arg;
using mcpgw::client::parse_header_args;

TEST(HeaderArg, NameAndValueAreTrimmed) {
  Header h;
  std::string err;
  ASSERT_TRUE(parse_header_arg("Authorization: Bearer abc:def", h, err)) << err;
  EXPECT_EQ(h.first, "Authorization");
  EXPECT_EQ(h.second, "Bearer abc:def");
  ASSERT_TRUE(parse_header_arg("x-mcp-servers:github", h, err)) << err;
  EXPECT_EQ(h.first, "x-mcp-servers");
  EXPECT_EQ(h.second, "github");
}

TEST(HeaderArg, BadArgumentsAreRefusedWithTheReason) {
  Header h;
  std::string err;
  EXPECT_FALSE(parse_header_arg("Authorization Bearer x", h, err));
  EXPECT_NE(err.find("expected \"Name: value\""), std::string::npos) << err;
  EXPECT_FALSE(parse_header_arg(": x", h, err));
  EXPECT_NE(err.find("empty"), std::string::npos) << err;
  EXPECT_FALSE(parse_header_arg("Bad Name: x", h, err));
  EXPECT_NE(err.find("not allowed"), std::string::npos) << err;
  EXPECT_FALSE(parse_header_arg("X: a\r\nInjected: b", h, err));
  EXPECT_NE(err.find("line break"), std::string::npos) << err;
}

TEST(HeaderArg, ListStopsAtTheFirstBadOne) {
  std::vector<Header> out;
  std::string err;
  EXPECT_TRUE(parse_header_args({"A: 1", "B: 2"}, out, err));
  EXPECT_EQ(out.size(), 2u);
  EXPECT_FALSE(parse_header_args({"A: 1", "nocolon"}, out, err));
  EXPECT_NE(err.find("nocolon"), std::string::npos) << err;
}
