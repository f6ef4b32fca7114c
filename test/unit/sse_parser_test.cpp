#include "upstream/sse_parser.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mcpgw::upstream {
namespace {

std::vector<SseEvent> parse_all(std::string_view text, std::size_t chunk = 0,
                                std::size_t limit = 1 << 20, bool* ok = nullptr) {
  SseParser p(limit);
  std::vector<SseEvent> out;
  bool good = true;
  auto sink = [&](SseEvent&& e) { out.push_back(std::move(e)); };
  if (chunk == 0) {
    good = p.feed(text, sink);
  } else {
    for (std::size_t i = 0; i < text.size() && good; i += chunk) {
      good = p.feed(text.substr(i, chunk), sink);
    }
  }
  if (ok != nullptr) {
    *ok = good;
  }
  return out;
}

TEST(SseParser, ReadsMcpMessageEvents) {
  auto evs = parse_all("event: message\nid: 5-1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, "message");
  EXPECT_EQ(evs[0].id, "5-1");
  EXPECT_EQ(evs[0].data, R"({"jsonrpc":"2.0","id":1,"result":{}})");
}

TEST(SseParser, SplitsAnywhereAndAcceptsEveryLineEnding) {
  const std::string text = "data: a\r\n\r\ndata: b\r\rdata: c\n\n: keep-alive\n\nevent: endpoint\ndata: /message?sessionId=x\n\n";
  for (std::size_t chunk : {0, 1, 2, 3, 7}) {
    auto evs = parse_all(text, chunk);
    ASSERT_EQ(evs.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(evs[0].data, "a");
    EXPECT_EQ(evs[1].data, "b");
    EXPECT_EQ(evs[2].data, "c");
    EXPECT_EQ(evs[3].type, "endpoint");
    EXPECT_EQ(evs[3].data, "/message?sessionId=x");
  }
}

TEST(SseParser, JoinsDataLinesAndKeepsValueSpacing) {
  auto evs = parse_all("data:{\"a\":\ndata:  1}\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "{\"a\":\n 1}");  // one leading space is the separator, the next is data
}

TEST(SseParser, PrimingEventsHaveAnIdAndEmptyData) {
  auto evs = parse_all("id: 0-0\nretry: 1500\ndata: \n\nid: 0-1\ndata: x\n\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].data, "");
  EXPECT_EQ(evs[0].id, "0-0");
  EXPECT_EQ(evs[0].retry_ms, 1500u);
  EXPECT_EQ(evs[1].id, "0-1");
  EXPECT_FALSE(evs[1].retry_ms.has_value());
}

TEST(SseParser, EventsWithoutDataAreNotDispatchedButIdsCount) {
  SseParser p(1024);
  std::vector<SseEvent> out;
  p.feed("id: 7\n\nevent: ping\n\n", [&](SseEvent&& e) { out.push_back(std::move(e)); });
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(p.last_event_id(), "7");
}

TEST(SseParser, IgnoresUnknownFieldsCommentsAndBadRetry) {
  auto evs = parse_all("\xEF\xBB\xBF: hello\nfoo: bar\nretry: 12x\ndata: ok\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "ok");
  EXPECT_FALSE(evs[0].retry_ms.has_value());
}

TEST(SseParser, AnIncompleteEventIsHeldUntilItsBlankLine) {
  SseParser p(1024);
  int n = 0;
  auto sink = [&](SseEvent&&) { ++n; };
  p.feed("data: partial", sink);
  EXPECT_EQ(n, 0);
  p.feed("\n", sink);
  EXPECT_EQ(n, 0);
  p.feed("\n", sink);
  EXPECT_EQ(n, 1);
}

TEST(SseParser, OversizedEventsStopTheParser) {
  bool ok = true;
  auto evs = parse_all("data: " + std::string(100, 'x') + "\n\n", 0, 64, &ok);
  EXPECT_FALSE(ok);
  EXPECT_TRUE(evs.empty());
  // Short lines that add up to too much data are stopped too.
  ok = true;
  parse_all("data: 1234567890\ndata: 1234567890\n\n", 0, 15, &ok);
  EXPECT_FALSE(ok);
  ok = false;
  parse_all("data: 1234567890\ndata: 1234567890\n\n", 0, 64, &ok);
  EXPECT_TRUE(ok);
}

TEST(SseParser, ALineOfOnlyAByteOrderMarkIsNotAField) {
  auto evs = parse_all("\xEF\xBB\xBF\ndata: after\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "after");
  evs = parse_all("\xEF\xBB\xBF\n\n", 1);
  EXPECT_TRUE(evs.empty());
}

}  // namespace
}  // namespace mcpgw::upstream
