#include "relay/event_stream.hpp"
#include "relay/session.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace mcpgw::relay {
namespace {

std::vector<std::uint64_t> seqs_after(const EventStream& s, std::uint64_t after) {
  std::vector<std::uint64_t> out;
  s.for_each_after(after, [&](const StreamEvent& e) { out.push_back(e.seq); });
  return out;
}

TEST(EventStream, ReplaysFromALastEventId) {
  boost::asio::io_context ioc;
  EventStream s(ioc.get_executor(), 3, 16, true);
  s.push("a");
  s.push("b");
  s.push_final("c");
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(seqs_after(s, 0), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(seqs_after(s, 2), (std::vector<std::uint64_t>{3}));
  std::uint64_t number = 0;
  std::uint64_t seq = 0;
  ASSERT_TRUE(EventStream::parse_event_id(s.event_id(2), number, seq));
  EXPECT_EQ(number, 3u);
  EXPECT_EQ(seq, 2u);
}

TEST(EventStream, NothingAfterTheEnd) {
  boost::asio::io_context ioc;
  EventStream s(ioc.get_executor(), 1, 16, true);
  s.push_final("done");
  s.push("late");
  EXPECT_EQ(s.size(), 1u);
}

TEST(EventStream, BufferIsBoundedAndCountsDrops) {
  boost::asio::io_context ioc;
  EventStream s(ioc.get_executor(), 0, 4, true);
  for (int i = 0; i < 10; ++i) {
    s.push(std::to_string(i));
  }
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.dropped(), 6u);
  EXPECT_EQ(seqs_after(s, 0), (std::vector<std::uint64_t>{7, 8, 9, 10}));
}

TEST(EventStream, ANewWriterSupersedesTheOld) {
  boost::asio::io_context ioc;
  EventStream s(ioc.get_executor(), 0, 4, true);
  const auto first = s.attach();
  const auto second = s.attach();
  EXPECT_FALSE(s.is_writer(first));
  EXPECT_TRUE(s.is_writer(second));
  s.detach(first);  // a stale writer cannot detach the current one
  EXPECT_TRUE(s.attached());
  s.detach(second);
  EXPECT_FALSE(s.attached());
}

TEST(EventStream, RejectsMalformedEventIds) {
  std::uint64_t n = 0;
  std::uint64_t q = 0;
  EXPECT_FALSE(EventStream::parse_event_id("", n, q));
  EXPECT_FALSE(EventStream::parse_event_id("12", n, q));
  EXPECT_FALSE(EventStream::parse_event_id("a-1", n, q));
  EXPECT_FALSE(EventStream::parse_event_id("1-", n, q));
  EXPECT_FALSE(EventStream::parse_event_id("1-2x", n, q));
}

TEST(Session, DrainedRequestStreamsAreForgotten) {
  boost::asio::io_context ioc;
  Session s(ioc.get_executor(), "id", SessionSpec{.view = {"a"}}, 8);
  auto stream = s.new_request_stream(true);
  EXPECT_EQ(s.find_stream(stream->number), nullptr);  // a plain JSON reply is never resumed
  s.register_stream(stream);                          // it went out as SSE
  EXPECT_EQ(s.find_stream(stream->number), stream);
  stream->push_final("r");
  stream->mark_delivered(stream->last_seq());
  s.prune_streams();
  EXPECT_EQ(s.find_stream(stream->number), nullptr);
  EXPECT_EQ(s.find_stream(0), s.standalone());  // the standalone stream stays
}

TEST(Session, UndeliveredStreamsStayForResumption) {
  boost::asio::io_context ioc;
  Session s(ioc.get_executor(), "id", SessionSpec{.view = {"a"}}, 8);
  auto stream = s.new_request_stream(true);
  s.register_stream(stream);
  stream->push("progress");
  stream->push_final("r");
  s.prune_streams();
  EXPECT_EQ(s.find_stream(stream->number), stream);
}

std::vector<std::string> texts(const EventStream& s) {
  std::vector<std::string> out;
  s.for_each_after(0, [&](const StreamEvent& e) { out.push_back(e.data); });
  return out;
}

TEST(EventStream, RoundsHoldWhatComesBetweenThemForTheNext) {
  boost::asio::io_context ioc;
  auto first = std::make_shared<EventStream>(ioc.get_executor(), 1, 16, true);
  first->push("progress 1");
  first->end_round("input_required");
  EXPECT_TRUE(first->finished());
  EXPECT_TRUE(first->between_rounds());
  first->push("progress 2");  // between rounds: held, not lost, not on the ended stream
  EXPECT_EQ(texts(*first), (std::vector<std::string>{"progress 1", "input_required"}));
  EXPECT_EQ(&first->current(), first.get());

  auto second = std::make_shared<EventStream>(ioc.get_executor(), 2, 16, true);
  first->continue_on(second);
  EXPECT_FALSE(first->between_rounds());
  EXPECT_EQ(&first->current(), second.get());
  first->push("progress 3");  // whoever holds the first round's stream reaches the second
  first->push_final("result");
  EXPECT_TRUE(second->finished());
  EXPECT_EQ(texts(*second), (std::vector<std::string>{"progress 2", "progress 3", "result"}));
}

TEST(EventStream, AJsonRoundCarriesTheFinalMessageAlone) {
  boost::asio::io_context ioc;
  auto first = std::make_shared<EventStream>(ioc.get_executor(), 1, 16, true);
  first->end_round("input_required");
  first->push("log");
  auto json_only = std::make_shared<EventStream>(ioc.get_executor(), 2, 16, false);
  first->continue_on(json_only);
  first->push_final("result");
  EXPECT_EQ(texts(*json_only), (std::vector<std::string>{"result"}));
}

TEST(EventStream, HeldBetweenRoundsIsBounded) {
  boost::asio::io_context ioc;
  auto first = std::make_shared<EventStream>(ioc.get_executor(), 1, 2, true);
  first->end_round("input_required");
  for (int i = 0; i < 5; ++i) {
    first->push(std::to_string(i));
  }
  EXPECT_EQ(first->dropped(), 3u);
  auto second = std::make_shared<EventStream>(ioc.get_executor(), 2, 16, true);
  first->continue_on(second);
  EXPECT_EQ(texts(*second), (std::vector<std::string>{"3", "4"}));
}


TEST(EventStream, IdsNameTheReplicaWhoseStreamItIs) {
  boost::asio::io_context ioc;
  EventStream s(ioc.get_executor(), 3, 16, true);
  EXPECT_EQ(s.event_id(5), "3-5");
  s.set_replica("gw-a");
  EXPECT_EQ(s.event_id(5), "gw-a/3-5");
  std::string replica;
  std::uint64_t number = 0, seq = 0;
  ASSERT_TRUE(EventStream::parse_event_id("gw-a/3-5", replica, number, seq));
  EXPECT_EQ(replica, "gw-a");
  EXPECT_EQ(number, 3u);
  EXPECT_EQ(seq, 5u);
  ASSERT_TRUE(EventStream::parse_event_id("7-2", replica, number, seq));
  EXPECT_EQ(replica, "") << "an id of one gateway";
  EXPECT_FALSE(EventStream::parse_event_id("gw-a/x-5", replica, number, seq));
}

TEST(EventStream, AMirrorSeesWhatWasHeldAndWhatComesAndACopyKeepsTheSendersNumbers) {
  boost::asio::io_context ioc;
  EventStream s(ioc.get_executor(), 1, 16, true);
  s.push("one");
  std::vector<std::pair<std::uint64_t, bool>> seen;
  s.mirror([&](const StreamEvent& e, bool final) { seen.emplace_back(e.seq, final); });
  s.push("two");
  s.push_final("three");
  EXPECT_EQ(seen, (std::vector<std::pair<std::uint64_t, bool>>{{1, false}, {2, false}, {3, true}}));

  EventStream copy(ioc.get_executor(), 1, 16, true);
  copy.append_copy(4, "four", false);
  copy.append_copy(4, "four again", false);  // already there: ignored
  copy.append_copy(6, "six", true);          // a gap (trimmed at the sender) is kept
  std::vector<std::uint64_t> seqs;
  copy.for_each_after(0, [&](const StreamEvent& e) { seqs.push_back(e.seq); });
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{4, 6}));
  EXPECT_TRUE(copy.finished());
}

}  // namespace
}  // namespace mcpgw::relay
