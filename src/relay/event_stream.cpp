#include "relay/event_stream.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace mcpgw::relay {

EventStream::EventStream(asio::any_io_executor ex, std::uint64_t number_, std::size_t replay,
                         bool sse_ok)
    : number(number_), replay_(replay == 0 ? 1 : replay), sse_ok_(sse_ok), wake_(std::move(ex)) {}

void EventStream::append(std::string data, bool final) {
  if (finished_) {
    return;
  }
  events_.push_back(StreamEvent{next_seq_++, std::move(data)});
  if (mirror_) {
    mirror_(events_.back(), final);
  }
  // Keep what is not delivered yet plus `replay_` delivered events, bounded by `replay_` in
  // all: a client that never reads cannot grow the gateway's memory.
  while (events_.size() > replay_) {
    if (events_.front().seq > delivered_) {
      ++dropped_;
      if (dropped_ == 1 || dropped_ % 1000 == 0) {
        spdlog::warn("stream {}: client is not reading; dropped {} undelivered message(s)",
                     number, dropped_);
      }
    }
    events_.pop_front();
  }
  wake_.set();
}

void EventStream::push(std::string data) {
  if (next_) {
    next_->push(std::move(data));
  } else if (between_rounds_) {
    held_.push_back(std::move(data));
    if (held_.size() > replay_) {
      held_.pop_front();
      ++dropped_;
    }
  } else {
    append(std::move(data));
  }
}

void EventStream::push_final(std::string data, int http_status) {
  if (next_) {
    next_->push_final(std::move(data), http_status);
    return;
  }
  http_status_ = http_status;
  append(std::move(data), true);
  finished_ = true;
  wake_.set();
}

void EventStream::finish() {
  if (next_) {
    next_->finish();
  }
  finished_ = true;
  between_rounds_ = false;
  wake_.set();
}

void EventStream::end_round(std::string data) {
  append(std::move(data));
  finished_ = true;
  between_rounds_ = true;
  wake_.set();
}

void EventStream::continue_on(std::shared_ptr<EventStream> next) {
  if (next->sse_ok()) {  // a JSON reply carries the final message alone
    for (auto& data : held_) {
      next->push(std::move(data));
    }
  }
  held_.clear();
  between_rounds_ = false;
  next_ = std::move(next);
}

EventStream& EventStream::current() noexcept {
  EventStream* s = this;
  while (s->next_) {
    s = s->next_.get();
  }
  return *s;
}

std::uint64_t EventStream::attach() noexcept {
  writer_ = next_writer_++;
  wake_.set();  // a previous writer notices it was superseded
  return writer_;
}

void EventStream::detach(std::uint64_t writer) noexcept {
  if (writer_ == writer) {
    writer_ = 0;
  }
}

std::string EventStream::event_id(std::uint64_t seq) const {
  if (!replica_.empty()) {
    return fmt::format("{}/{}-{}", replica_, number, seq);
  }
  return fmt::format("{}-{}", number, seq);
}

bool EventStream::parse_event_id(std::string_view id, std::string& replica,
                                 std::uint64_t& number, std::uint64_t& seq) {
  const auto slash = id.rfind('/');
  replica = slash == std::string_view::npos ? std::string() : std::string(id.substr(0, slash));
  return parse_event_id(slash == std::string_view::npos ? id : id.substr(slash + 1), number, seq);
}

void EventStream::mirror(Mirror m) {
  mirror_ = std::move(m);
  for (const auto& e : events_) {
    mirror_(e, finished_ && e.seq == last_seq());
  }
}

void EventStream::append_copy(std::uint64_t seq, std::string data, bool final) {
  if (finished_ || seq < next_seq_) {
    return;
  }
  next_seq_ = seq;
  append(std::move(data), final);
  finished_ = final;
}

bool EventStream::parse_event_id(std::string_view id, std::uint64_t& number, std::uint64_t& seq) {
  const auto dash = id.find('-');
  if (dash == std::string_view::npos) {
    return false;
  }
  auto a = std::from_chars(id.data(), id.data() + dash, number);
  auto b = std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
  return a.ec == std::errc() && a.ptr == id.data() + dash && b.ec == std::errc() &&
         b.ptr == id.data() + id.size();
}

}  // namespace mcpgw::relay
