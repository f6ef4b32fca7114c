#pragma once
// Held approvals shared by the replicas (gateway.cluster.redis): a call held on one replica is
// listed by every replica's /admin/approvals, and a decision made through any of them releases
// it. The holding replica publishes the approval (the hash `mcpgw:approvals`, field = id),
// polls for a decision while it waits (`mcpgw:approval:{id}`, every 250 ms: held calls are
// few), and withdraws it when the call goes on.
#include "gate/chain.hpp"
#include "upstream/redis.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::gate {

class SharedApprovals {
 public:
  /// How often a holding replica asks for a decision made elsewhere.
  static constexpr std::chrono::milliseconds kPoll{250};

  SharedApprovals(std::shared_ptr<upstream::Redis> redis, std::string replica)
      : redis_(std::move(redis)), replica_(std::move(replica)) {}

  /// Lists `a`, held here until `expires_ms` (unix ms). False when Redis cannot be reached
  /// (the approval is then decided through this replica alone).
  asio::awaitable<bool> publish(const Approval& a, std::int64_t expires_ms);
  /// A decision made through another replica, taken (once).
  asio::awaitable<std::optional<bool>> decision(std::string_view id);
  /// `id` is no longer held.
  asio::awaitable<void> withdraw(std::string_view id);
  /// Every replica's held approvals (expired ones dropped); nullopt when Redis cannot say.
  asio::awaitable<std::optional<boost::json::array>> list();
  enum class Decided : std::uint8_t { written, unknown, unreachable };
  /// Decides an approval held by another replica: `unknown` when no replica holds it.
  asio::awaitable<Decided> decide(std::string_view id, bool approve);

 private:
  std::shared_ptr<upstream::Redis> redis_;
  std::string replica_;
};

}  // namespace mcpgw::gate
