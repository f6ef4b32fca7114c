#pragma once
// An ordered, resumable stream of messages for one client: the SSE reply to one POST, the
// standalone GET stream, or a legacy SSE connection. The relay pushes; the HTTP layer writes.
#include "common/event.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace mcpgw::relay {

struct Exchange;

struct StreamEvent {
  std::uint64_t seq;
  std::string data;  ///< one JSON-RPC message, serialized
};

class EventStream {
 public:
  /// `number` is unique within the session; `replay` bounds the events kept for Last-Event-ID.
  EventStream(asio::any_io_executor ex, std::uint64_t number, std::size_t replay, bool sse_ok);

  const std::uint64_t number;

  // Producer side (the relay).
  void push(std::string data);
  /// The last message (the response); the stream ends after it. `http_status`: what a plain
  /// JSON reply made of it answers with (a 2026-07-28 refusal is a 400).
  void push_final(std::string data, int http_status = 200);
  /// Ends the stream without a further message (session closed).
  void finish();
  bool finished() const noexcept { return finished_; }

  // A request that needs the client's input (2026-07-28, MRTR) has a stream per round.
  /// Ends this round with `data` (its input_required reply); what is pushed after it is held
  /// for the next round.
  void end_round(std::string data);
  /// The request goes on on `next` (the client's retry): what was held moves there, and what
  /// is pushed here from now on goes there.
  void continue_on(std::shared_ptr<EventStream> next);
  /// Between rounds: ended, and its continuation not come yet.
  bool between_rounds() const noexcept { return between_rounds_; }
  /// The stream a message pushed here reaches: this one, or its latest round's.
  EventStream& current() noexcept;
  /// False for a POST whose client does not accept SSE: only the final message may go here.
  bool sse_ok() const noexcept { return sse_ok_; }
  /// The least severe log message this stream's request asked for (2026-07-28 `logLevel`, a
  /// rank of mcp::log_level_rank); -1: as its session says.
  int log_rank() const noexcept { return log_rank_; }
  void set_log_rank(int rank) noexcept { log_rank_ = rank; }
  /// The stateless request this stream answers, while it runs and may ask its client
  /// something (its MRTR rounds open when the first question comes); null otherwise.
  Exchange* asker() const noexcept { return asker_; }
  void set_asker(Exchange* ex) noexcept { asker_ = ex; }

  // Consumer side (the HTTP layer). One writer at a time; a new one supersedes the old.
  std::uint64_t attach() noexcept;
  void detach(std::uint64_t writer) noexcept;
  bool is_writer(std::uint64_t writer) const noexcept { return writer == writer_; }
  bool attached() const noexcept { return writer_ != 0; }
  /// Events with seq > `after`, oldest first.
  template <class F>
  void for_each_after(std::uint64_t after, F&& f) const {
    for (const auto& e : events_) {
      if (e.seq > after) {
        f(e);
      }
    }
  }
  std::uint64_t last_seq() const noexcept { return next_seq_ - 1; }
  /// Highest seq handed to a writer; resuming without Last-Event-ID starts here.
  std::uint64_t delivered() const noexcept { return delivered_; }
  void mark_delivered(std::uint64_t seq) noexcept {
    if (seq > delivered_) {
      delivered_ = seq;
    }
  }
  std::size_t dropped() const noexcept { return dropped_; }
  std::size_t size() const noexcept { return events_.size(); }
  const StreamEvent* front() const noexcept { return events_.empty() ? nullptr : &events_.front(); }
  /// True once everything pushed has been delivered and no more will come.
  bool drained() const noexcept { return finished_ && delivered_ >= last_seq(); }
  /// The HTTP status a plain JSON reply of the final message answers with.
  int http_status() const noexcept { return http_status_; }

  /// Wakes the writer when something was pushed or the stream ended.
  Event& wake() noexcept { return wake_; }

  /// "{number}-{seq}": SSE event id, encodes the stream so a resume finds it; with replicas
  /// sharing their streams, "{replica}/{number}-{seq}".
  std::string event_id(std::uint64_t seq) const;
  static bool parse_event_id(std::string_view id, std::uint64_t& number, std::uint64_t& seq);
  /// The same; `replica` is "" for an id without one.
  static bool parse_event_id(std::string_view id, std::string& replica, std::uint64_t& number,
                             std::uint64_t& seq);
  /// The replica named in this stream's event ids ("" for none).
  void set_replica(std::string replica) { replica_ = std::move(replica); }

  // Replicas sharing streams (relay/shared_events.hpp).
  /// Given each event appended from now on, and at once those held: `final` for the last one.
  using Mirror = std::function<void(const StreamEvent&, bool final)>;
  void mirror(Mirror m);
  /// Appends an event another replica numbered `seq` (a resume through this replica); `final`
  /// ends the stream.
  void append_copy(std::uint64_t seq, std::string data, bool final);

 private:
  void append(std::string data, bool final = false);

  std::deque<StreamEvent> events_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t delivered_ = 0;
  std::uint64_t writer_ = 0;
  std::uint64_t next_writer_ = 1;
  std::size_t replay_;
  std::size_t dropped_ = 0;
  bool finished_ = false;
  bool between_rounds_ = false;
  int log_rank_ = -1;
  int http_status_ = 200;
  Exchange* asker_ = nullptr;
  std::deque<std::string> held_;  ///< pushed between rounds (bounded by replay_)
  std::shared_ptr<EventStream> next_;
  std::string replica_;
  Mirror mirror_;
  bool sse_ok_;
  Event wake_;
};

}  // namespace mcpgw::relay
