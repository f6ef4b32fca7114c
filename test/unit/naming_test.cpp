#include "mcp/naming.hpp"

#include <gtest/gtest.h>

namespace mcpgw::mcp {
namespace {

TEST(Naming, PrefixesAndResolves) {
  Naming n("__");
  EXPECT_EQ(n.expose("fs", "read_file"), "fs__read_file");
  auto t = n.resolve("fs__read_file");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->server, "fs");
  EXPECT_EQ(t->name, "read_file");
}

TEST(Naming, ToolNamesMayContainTheSeparator) {
  Naming n("__");
  const std::string exposed = n.expose("fs", "my__tool");
  auto t = n.resolve(exposed);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->server, "fs");
  EXPECT_EQ(t->name, "my__tool");
}

TEST(Naming, NamesWithoutPrefixDoNotResolve) {
  Naming n("__");
  EXPECT_FALSE(n.resolve("read_file"));
  EXPECT_FALSE(n.resolve("__read_file"));
}

TEST(Naming, LongNamesAreShortenedDeterministically) {
  Naming a("__");
  Naming b("__");
  const std::string tool(80, 'x');
  bool shortened = false;
  const std::string first = a.expose("server", tool, &shortened);
  EXPECT_TRUE(shortened);
  EXPECT_EQ(first.size(), 64u);
  EXPECT_EQ(first, b.expose("server", tool));  // same in every session and every run
  auto t = a.resolve(first);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->server, "server");
  EXPECT_EQ(t->name, tool);
  // Two long names with a common prefix stay distinct.
  EXPECT_NE(a.expose("server", tool + "a"), a.expose("server", tool + "b"));
}

TEST(Naming, CustomSeparator) {
  Naming n("-");
  EXPECT_EQ(n.expose("db", "query"), "db-query");
  auto t = n.resolve("db-query");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->server, "db");
}

TEST(Naming, ServerNamesThatWouldBreakSplittingAreRejected) {
  EXPECT_EQ(Naming::check_server_name("files", "__"), "");
  EXPECT_EQ(Naming::check_server_name("my-server.v2", "__"), "");
  EXPECT_NE(Naming::check_server_name("a__b", "__"), "");
  EXPECT_NE(Naming::check_server_name("a_", "__"), "");  // "a___x" would split as a / _x
  EXPECT_NE(Naming::check_server_name("", "__"), "");
  EXPECT_NE(Naming::check_server_name("a b", "__"), "");
  EXPECT_NE(Naming::check_server_name("a,b", "__"), "");
  EXPECT_NE(Naming::check_server_name("db-main", "-"), "");
  // What a user reads: which name, which separator, and why it cannot be.
  EXPECT_EQ(Naming::check_server_name("db-main", "-"),
            "server name \"db-main\" must not contain the separator \"-\": a tool named "
            "\"db-main-TOOL\" could not be split back into server and tool (rename the server, "
            "or choose another gateway.separator)");
  EXPECT_NE(Naming::check_server_name("a_", "__").find("must not end in part of the separator"),
            std::string::npos);
}

TEST(Naming, ResourceUrisKeepTheirServer) {
  const std::string exposed = Naming::expose_uri("files", "file:///tmp/a.txt");
  EXPECT_EQ(exposed, "mcpgw://files/file:///tmp/a.txt");
  auto t = Naming::resolve_uri(exposed);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->server, "files");
  EXPECT_EQ(t->name, "file:///tmp/a.txt");
  // Templates keep their variables.
  auto tpl = Naming::resolve_uri(Naming::expose_uri("e", "test://template/{id}/data"));
  ASSERT_TRUE(tpl);
  EXPECT_EQ(tpl->name, "test://template/{id}/data");
  EXPECT_FALSE(Naming::resolve_uri("file:///tmp/a.txt"));
  EXPECT_FALSE(Naming::resolve_uri("mcpgw://"));
}

}  // namespace
}  // namespace mcpgw::mcp
