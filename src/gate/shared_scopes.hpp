#pragma once
// Taint shared by the replicas (gateway.cluster.redis): a scope's marks live in a Redis hash
// (`untrusted`, `secrets`, each with the first source that set it), so a call that lands on one
// replica is gated by what the scope read through any other. Taint never clears: a scope this
// replica knows to be both untrusted and holding secrets is never read again; a scope that is
// clean here is read before every gated call, since another replica may have tainted it a
// moment ago. A mark is written before the result that caused it reaches the client. The
// secret values a scope read (value-level flow) are a list beside it, as keyed n-gram hashes
// under a key the replicas derive from their key ring; a call that can send data out reads
// what was added since it last looked.
#include "gate/scope.hpp"
#include "upstream/redis.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace mcpgw::gate {

namespace asio = boost::asio;

class SharedScopes {
 public:
  /// What a call does when Redis cannot be reached: `refuse` it (fail closed, the default),
  /// or go on with this replica's own knowledge (`local`, logged).
  enum class WhenDown : std::uint8_t { refuse, local };

  SharedScopes(std::shared_ptr<upstream::Redis> redis, WhenDown when_down)
      : redis_(std::move(redis)), when_down_(when_down) {}

  /// Brings `scope` up to date with the marks of every replica. nullopt when the call may go
  /// on; else why it is refused. `ttl`: a scope nobody used for this long is forgotten.
  /// `values`: the call can send data out (gate::may_send_out), so the secret values other
  /// replicas saw in this scope are taken in too, in the same round trip (and then even for a
  /// scope known to be tainted: values are added as long as the scope lives).
  asio::awaitable<std::optional<std::string>> pull(Scope& scope, std::chrono::milliseconds ttl,
                                                  bool values = false);
  /// Writes the marks and the secret values this replica found that the shared state does not
  /// hold yet.
  asio::awaitable<std::optional<std::string>> push(Scope& scope, std::chrono::milliseconds ttl);
  /// For /readyz: {"redis": "up"|"down", "error": …}.
  boost::json::object status() const;
  /// The Redis key of a scope (principal and id, length-prefixed: either may hold ':').
  static std::string key(const Scope& scope);
  /// A shared value as stored: its source, a newline, its n-gram hashes in hex.
  static std::string encode(const SecretValues::Kept& v);
  static std::optional<SecretValues::Kept> decode(std::string_view text);

 private:
  static void take_marks(Scope& scope, const std::vector<upstream::RedisReply>& kv);
  /// nullopt when Redis failing lets the call go on (`local`); else the refusal.
  std::optional<std::string> down(std::string_view what);

  std::shared_ptr<upstream::Redis> redis_;
  WhenDown when_down_;
  bool warned_ = false;
};

}  // namespace mcpgw::gate
