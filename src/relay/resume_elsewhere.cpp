// Resuming, through this replica, an SSE stream another replica sent (relay/shared_events.hpp).
#include "relay/relay.hpp"
#include "relay/shared_events.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace mcpgw::relay {

namespace {
constexpr auto kPollEvery = std::chrono::milliseconds(50);
}  // namespace

void Relay::share_events() {
  shared_events_ = shared_redis_ && session_keys_
                       ? std::make_shared<SharedEvents>(ex_, shared_redis_, replica_,
                                                        cfg_.gateway.limits.replay_events)
                       : nullptr;
}

asio::awaitable<std::optional<Relay::Resumed>> Relay::resume_elsewhere(SessionPtr s,
                                                                       std::string replica,
                                                                       std::uint64_t number,
                                                                       std::uint64_t seq) {
  auto events = shared_events_;
  if (!events || replica.empty() || replica == events->replica()) {
    co_return std::nullopt;
  }
  auto copied = co_await events->after(s->id, replica, number, seq);
  if (!copied) {
    spdlog::info("session {}: stream {} of replica {} is not in Redis; resuming on this "
                 "replica's stream", s->id, number, replica);
    co_return std::nullopt;
  }
  if (number == 0) {
    // The other replica's standalone stream: what the client missed of it comes first on this
    // replica's, which goes on from there.
    auto standalone = s->standalone();
    const std::uint64_t after = standalone->delivered();
    for (auto& c : *copied) {
      standalone->push(std::move(c.data));
    }
    co_return Resumed{standalone, after};
  }
  auto copy = std::make_shared<EventStream>(ex_, number, cfg_.gateway.limits.replay_events, true);
  copy->set_replica(replica);
  std::uint64_t last = seq;
  for (auto& c : *copied) {
    last = c.seq;
    copy->append_copy(c.seq, std::move(c.data), c.final);
  }
  if (!copy->finished()) {
    asio::co_spawn(ex_, follow_elsewhere(s, copy, std::move(replica), last), asio::detached);
  }
  co_return Resumed{copy, seq};
}

asio::awaitable<void> Relay::follow_elsewhere(SessionPtr s, std::shared_ptr<EventStream> copy,
                                              std::string replica, std::uint64_t after) {
  auto events = shared_events_;
  asio::steady_timer timer(ex_);
  auto idle_until = Clock::now() + cfg_.gateway.timeouts.call;
  bool attached = false;
  while (events && !copy->finished() && !stopping_ && !s->closed()) {
    timer.expires_after(kPollEvery);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    attached = attached || copy->attached();
    if (attached && !copy->attached()) {
      break;  // the client left
    }
    auto got = co_await events->after(s->id, replica, copy->number, after);
    if (!got || (got->empty() && Clock::now() > idle_until)) {
      break;  // gone from Redis, or nothing for too long: the client may resume again
    }
    for (auto& c : *got) {
      after = c.seq;
      idle_until = Clock::now() + cfg_.gateway.timeouts.call;
      copy->append_copy(c.seq, std::move(c.data), c.final);
    }
  }
  copy->finish();
}

}  // namespace mcpgw::relay
