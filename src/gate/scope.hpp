#pragma once
// Scopes: the unit that carries taint. By default one MCP session; an agent runtime that opens
// several sessions for one task names a scope (`/scope/{id}/…` or `x-mcp-scope`) and its
// sessions share it. Scope ids live in the caller's namespace: two principals naming the same
// id get two scopes. Taint never clears within a scope; a scope nobody used for the idle TTL
// is forgotten.
#include "common/event.hpp"
#include "gate/flow.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mcpgw::gate {

struct Scope {
  std::string principal;  ///< "-" without authentication
  std::string id;         ///< as named by the client, or the session id
  bool named = false;     ///< named by the client (else it is one session's own)

  bool untrusted = false;  ///< read content from a public_source
  bool secrets = false;    ///< read data from a secret_data source
  std::vector<std::string> untrusted_by;  ///< "server/tool" that made it untrusted (first few)
  std::vector<std::string> secrets_by;    ///< "server/tool" that brought secrets (first few)
  SecretValues values;                    ///< the secret values read, as keyed n-gram hashes
  Clock::time_point last_used = Clock::now();
  /// What the replicas' shared state is known to hold (gateway.cluster.redis): a mark it does
  /// not hold yet is written before the result that caused it reaches the client.
  bool shared_untrusted = false;
  bool shared_secrets = false;
  /// The shared values (`values` of every replica) taken in so far: a position in their list.
  std::size_t values_seen = 0;

  void mark_untrusted(std::string_view source);
  void mark_secrets(std::string_view source);
  /// "untrusted (web/fetch_page), holds secrets (vault/get_secret)" or "clean".
  std::string describe() const;
};

using ScopePtr = std::shared_ptr<Scope>;

class ScopeRegistry {
 public:
  /// The scope `id` of `principal`, made on first use. An empty id makes a fresh session scope
  /// named `session_id`.
  ScopePtr get(std::string_view principal, std::string_view id, std::string_view session_id);
  /// Forgets scopes that no session holds and nobody used for `idle`.
  std::size_t reap(Clock::time_point now, std::chrono::milliseconds idle);
  std::size_t size() const noexcept { return scopes_.size(); }

 private:
  std::unordered_map<std::string, ScopePtr> scopes_;  ///< by principal + '\n' + id
};

/// A scope id from a client: 1–128 of [A-Za-z0-9._:-].
bool valid_scope_id(std::string_view id) noexcept;

}  // namespace mcpgw::gate
