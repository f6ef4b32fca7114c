#pragma once
// The SSE streams of sessions that every replica serves (gateway.cluster with Redis): each
// event a replica sends on a stream is copied to Redis (a sorted set per stream, by sequence
// number, the newest `limits.replayEvents` kept for 5 minutes), so a client that lost the
// stream and comes back through another replica with Last-Event-ID gets what it missed. The
// copy costs one command per SSE event, sent without waiting; plain JSON replies cost nothing.
#include "relay/event_stream.hpp"
#include "upstream/redis.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::relay {

class SharedEvents {
 public:
  SharedEvents(asio::any_io_executor ex, std::shared_ptr<upstream::Redis> redis,
               std::string replica, std::size_t keep)
      : ex_(std::move(ex)), redis_(std::move(redis)), replica_(std::move(replica)),
        keep_(keep) {}
  /// This replica's name, in its event ids.
  const std::string& replica() const noexcept { return replica_; }
  /// Copies the events of `stream` of session `sid` to Redis, those held and those to come.
  void mirror(const std::string& sid, EventStream& stream);

  struct Copied {
    std::uint64_t seq = 0;
    bool final = false;
    std::string data;
  };
  /// The events of `replica`'s stream `number` of session `sid` after `seq`, oldest first.
  /// nullopt when Redis has no such stream (never shared, or expired) or cannot be read.
  asio::awaitable<std::optional<std::vector<Copied>>> after(const std::string& sid,
                                                            const std::string& replica,
                                                            std::uint64_t number,
                                                            std::uint64_t seq);

 private:
  std::string key(const std::string& sid, const std::string& replica,
                  std::uint64_t number) const;

  asio::any_io_executor ex_;
  std::shared_ptr<upstream::Redis> redis_;
  std::string replica_;
  std::size_t keep_;
};

}  // namespace mcpgw::relay
