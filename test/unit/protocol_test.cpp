#include "mcp/protocol.hpp"

#include <gtest/gtest.h>

namespace mcpgw::mcp {
namespace {

TEST(Protocol, NegotiatesSupportedVersionsAsAsked) {
  for (auto v : kSupportedVersions) {
    EXPECT_EQ(negotiate(v), v);
  }
}

TEST(Protocol, AnswersUnknownVersionsWithTheLatest) {
  EXPECT_EQ(negotiate("1999-01-01"), kLatestVersion);
  EXPECT_EQ(negotiate("2026-07-28"), kLatestVersion);
  EXPECT_EQ(negotiate(""), kLatestVersion);
}

TEST(Protocol, PrimingOnlyFrom20251125) {
  EXPECT_TRUE(at_least("2025-11-25", kPrimingVersion));
  EXPECT_FALSE(at_least("2025-06-18", kPrimingVersion));
  EXPECT_FALSE(at_least("2025-03-26", kPrimingVersion));
}

TEST(Protocol, LogLevelsAreOrdered) {
  EXPECT_LT(log_level_rank("debug"), log_level_rank("info"));
  EXPECT_LT(log_level_rank("warning"), log_level_rank("emergency"));
  EXPECT_EQ(log_level_rank("loud"), -1);
}

}  // namespace
}  // namespace mcpgw::mcp
