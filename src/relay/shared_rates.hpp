#pragma once
// API keys' rate limits shared by the replicas (gateway.cluster.redis): one token bucket per key
// in Redis, taken from atomically by a script, on Redis's clock (replicas' clocks may differ).
// A key limited to 60/min gets 60 calls a minute from the whole cluster, not 60 per replica.
// One round trip per request of a key that has a limit; none for a key without one.
#include "upstream/redis.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

namespace mcpgw::relay {

struct RateTake {
  enum class Result : std::uint8_t {
    ok,
    limited,      ///< the bucket is empty: retry_after_s
    local,        ///< Redis cannot be read and whenRedisDown is "local": use this replica's
    unavailable,  ///< Redis cannot be read and whenRedisDown is "refuse": `why`
  };
  Result result = Result::ok;
  int retry_after_s = 0;
  std::string why;
};

class SharedRates {
 public:
  SharedRates(std::shared_ptr<upstream::Redis> redis, bool local_when_down)
      : redis_(std::move(redis)), local_when_down_(local_when_down) {}
  /// Takes one call from the bucket of key `name` (capacity `per_min`, refilled continuously).
  boost::asio::awaitable<RateTake> take(std::string name, double per_min);

 private:
  std::shared_ptr<upstream::Redis> redis_;
  bool local_when_down_;
  bool warned_ = false;
};

}  // namespace mcpgw::relay
