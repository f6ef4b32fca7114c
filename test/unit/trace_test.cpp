// W3C trace context, sampling and the OTLP JSON encoding of spans.
#include "common/trace.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace {

using namespace mcpgw;
namespace json = boost::json;

TEST(Trace, TraceparentIsParsedOnlyInItsOneValidShape) {
  const auto ctx = trace::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(ctx);
  EXPECT_TRUE(ctx->sampled);
  EXPECT_EQ(trace::format_traceparent(*ctx),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_FALSE(trace::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                   ->sampled);
  for (const char* bad : {
           "",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has no more fields
           "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
       }) {
    EXPECT_FALSE(trace::parse_traceparent(bad)) << bad;
  }
  // A later version may append fields; its first four are read.
  EXPECT_TRUE(trace::parse_traceparent(
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
}

TEST(Trace, ChildrenStayInTheTraceAndFollowTheParentsDecision) {
  auto& tracer = trace::Tracer::instance();
  tracer.configure(0.0, 16, 8);
  EXPECT_FALSE(tracer.sample_root()) << "ratio 0";
  auto parent = *trace::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  const auto child = tracer.child_of(parent);
  EXPECT_EQ(child.trace, parent.trace);
  EXPECT_NE(child.span, parent.span);
  EXPECT_TRUE(child.sampled) << "a sampled parent is followed whatever the ratio";
  tracer.configure(1.0, 16, 8);
  EXPECT_TRUE(tracer.sample_root()) << "ratio 1";
  EXPECT_TRUE(tracer.sampled_root().sampled);
  parent.sampled = false;
  EXPECT_FALSE(tracer.child_of(parent).sampled) << "an unsampled parent is followed too";
  tracer.configure(0.25, 16, 8);
  int sampled = 0;
  for (int i = 0; i < 4000; ++i) {
    sampled += tracer.sample_root() ? 1 : 0;
  }
  EXPECT_GT(sampled, 800);
  EXPECT_LT(sampled, 1200);
  tracer.disable();
}

TEST(Trace, AFullQueueDropsNewSpansAndTakeEmptiesItInOrder) {
  auto& tracer = trace::Tracer::instance();
  tracer.configure(1.0, 3, 2);
  tracer.take(100);
  int batches = 0;
  tracer.on_batch([&] { ++batches; });
  for (int i = 0; i < 5; ++i) {
    trace::Span s;
    s.name = "s" + std::to_string(i);
    tracer.record(std::move(s));
  }
  EXPECT_EQ(batches, 1);
  EXPECT_EQ(tracer.queued(), 3u);
  const auto spans = tracer.take(10);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans.front().name, "s0");
  EXPECT_EQ(tracer.queued(), 0u);
  tracer.on_batch({});
  tracer.disable();
}

TEST(Trace, SpansEncodeAsOtlpJson) {
  trace::Span s;
  s.ctx = *trace::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  s.parent = trace::SpanId{1, 2, 3, 4, 5, 6, 7, 8};
  s.name = "tools/call \"quoted\"\n";
  s.kind = trace::Kind::client;
  s.start_ns = 1700000000000000000;
  s.end_ns = 1700000000000001000;
  s.error = true;
  s.status = "boom";
  s.attributes.emplace_back("mcp.method.name", std::string("tools/call"));
  s.attributes.emplace_back("rpc.jsonrpc.error_code", std::int64_t{-32602});
  s.attributes.emplace_back("flag", true);
  const auto doc = json::parse(trace::to_otlp_json({s}, "mcpgw", "1.2.3"));
  const auto& rs = doc.at("resourceSpans").at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").at(0).at("value").at("stringValue"), "mcpgw");
  const auto& span = rs.at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(span.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span.at("spanId"), "00f067aa0ba902b7");
  EXPECT_EQ(span.at("parentSpanId"), "0102030405060708");
  EXPECT_EQ(span.at("name"), "tools/call \"quoted\"\n");
  EXPECT_EQ(span.at("kind"), 3);
  EXPECT_EQ(span.at("startTimeUnixNano"), "1700000000000000000") << "uint64 as a string";
  EXPECT_EQ(span.at("attributes").at(1).at("value").at("intValue"), "-32602");
  EXPECT_EQ(span.at("attributes").at(2).at("value").at("boolValue"), true);
  EXPECT_EQ(span.at("status").at("code"), 2);
  EXPECT_EQ(span.at("status").at("message"), "boom");
}

}  // namespace
