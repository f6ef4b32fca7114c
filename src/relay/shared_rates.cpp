#include "relay/shared_rates.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

namespace mcpgw::relay {

namespace {

// ARGV[1]: the capacity, a minute's worth of calls. Returns 0 when a call was taken, else the
// milliseconds until the next one. The bucket is forgotten after two idle minutes (then full).
constexpr std::string_view kTake =
    "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "local cap = tonumber(ARGV[1]) local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts') "
    "local tokens = tonumber(b[1]) or cap local ts = tonumber(b[2]) or now "
    "tokens = math.min(cap, tokens + math.max(0, now - ts) * cap / 60000) local wait = 0 "
    "if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 60000 / cap) end "
    "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now)) "
    "redis.call('PEXPIRE', KEYS[1], 120000) return wait";

}  // namespace

boost::asio::awaitable<RateTake> SharedRates::take(std::string name, double per_min) {
  auto redis = redis_;  // a reload may replace this object's owner meanwhile
  auto reply = co_await redis->command(upstream::redis_args(
      "EVAL", kTake, "1", fmt::format("mcpgw:rate:{}:{}", name.size(), name),
      fmt::format("{}", per_min)));
  RateTake out;
  if (!reply || reply->type != upstream::RedisReply::Type::integer) {
    const std::string error = !reply ? redis->last_error()
                              : reply->type == upstream::RedisReply::Type::error ? reply->str
                                                                                 : "no reply";
    if (local_when_down_) {
      if (!std::exchange(warned_, true)) {
        spdlog::warn("cluster: the shared rate limits (Redis) cannot be read: {}; limiting with "
                     "this replica's own (gateway.cluster.whenRedisDown \"local\")", error);
      }
      out.result = RateTake::Result::local;
      co_return out;
    }
    out.result = RateTake::Result::unavailable;
    out.why = fmt::format("Service Unavailable: this API key's rate limit is shared through "
                          "Redis, which cannot be read now ({}); the gateway fails closed "
                          "(gateway.cluster.whenRedisDown)", error);
    co_return out;
  }
  warned_ = false;
  if (reply->integer > 0) {
    out.result = RateTake::Result::limited;
    out.retry_after_s = static_cast<int>((reply->integer + 999) / 1000);
  }
  co_return out;
}

}  // namespace mcpgw::relay
