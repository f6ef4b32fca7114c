#include "relay/shared_events.hpp"

#include "access/key_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace mcpgw::relay {

namespace {

constexpr const char* kKeepMs = "300000";  ///< a stream's copy outlives its last event by this

/// Adds one event (member "seq final data", scored by seq), keeps the newest ARGV[3].
constexpr const char* kAdd =
    "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) "
    "redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1)) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[4]) return 1";

/// The events after ARGV[1]; nil when the stream is not there.
constexpr const char* kAfter =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end "
    "return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')";

std::optional<SharedEvents::Copied> parse_member(std::string_view m) {
  SharedEvents::Copied c;
  const auto space = m.find(' ');
  if (space == std::string_view::npos || m.size() < space + 3) {
    return std::nullopt;
  }
  auto r = std::from_chars(m.data(), m.data() + space, c.seq);
  if (r.ec != std::errc() || r.ptr != m.data() + space) {
    return std::nullopt;
  }
  c.final = m[space + 1] == '1';
  c.data = std::string(m.substr(space + 3));
  return c;
}

}  // namespace

std::string SharedEvents::key(const std::string& sid, const std::string& replica,
                              std::uint64_t number) const {
  // The session id is long (it is sealed); its digest names it.
  return fmt::format("mcpgw:events:{}:{}:{}", access::sha256_hex(sid).substr(0, 32), replica,
                     number);
}

void SharedEvents::mirror(const std::string& sid, EventStream& stream) {
  stream.set_replica(replica_);
  stream.mirror([k = key(sid, replica_, stream.number), keep = std::to_string(keep_),
                 redis = redis_, ex = ex_](const StreamEvent& e, bool final) {
    auto argv = upstream::redis_args("EVAL", kAdd, "1", k, std::to_string(e.seq),
                                     fmt::format("{} {} {}", e.seq, final ? 1 : 0, e.data),
                                     keep, kKeepMs);
    // Not waited for: the client is not held up by the copy. A copy that fails is missing
    // from a resume through another replica, nothing more.
    asio::co_spawn(ex, [redis, argv = std::move(argv)]() mutable -> asio::awaitable<void> {
      auto r = co_await redis->command(std::move(argv));
      if (!r || r->type == upstream::RedisReply::Type::error) {
        spdlog::debug("shared events: an event was not copied: {}",
                      r ? r->str : redis->last_error());
      }
    }, asio::detached);
  });
}

asio::awaitable<std::optional<std::vector<SharedEvents::Copied>>> SharedEvents::after(
    const std::string& sid, const std::string& replica, std::uint64_t number,
    std::uint64_t seq) {
  auto argv = upstream::redis_args("EVAL", kAfter, "1", key(sid, replica, number),
                                   std::to_string(seq));
  auto r = co_await redis_->command(std::move(argv));
  if (!r || r->type != upstream::RedisReply::Type::array) {
    co_return std::nullopt;
  }
  std::vector<Copied> out;
  out.reserve(r->elements.size());
  for (const auto& e : r->elements) {
    if (auto c = parse_member(e.str)) {
      out.push_back(std::move(*c));
    }
  }
  co_return out;
}

}  // namespace mcpgw::relay
