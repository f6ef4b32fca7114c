#pragma once
// Authentication of every request to an MCP endpoint: finds the caller's key in the request's
// headers (Authorization: Bearer, x-api-key, or LiteLLM's x-litellm-api-key), checks it against
// the key store, and applies the key's rate limit (a token bucket per key).
#include "access/key_store.hpp"
#include "common/event.hpp"
#include "config/config.hpp"

#include <unordered_map>

namespace mcpgw::access {

struct Credentials {
  std::string_view authorization;      ///< "Bearer <key>"
  std::string_view x_api_key;          ///< "<key>"
  std::string_view x_litellm_api_key;  ///< "Bearer <key>" (LiteLLM's header)
};

enum class AuthOutcome {
  ok,            ///< principal set
  anonymous,     ///< auth mode none: everything allowed
  missing,       ///< no credential: 401
  invalid,       ///< unknown, revoked or expired: 401
  rate_limited,  ///< 429, retry_after_s set
};

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::anonymous;
  PrincipalPtr principal;
  std::string reason;  ///< for the client; never contains the key
  std::string key_name;  ///< the key's name when it was recognised (revoked, expired, limited)
  int retry_after_s = 0;
};

class Authenticator {
 public:
  /// Opens the key store when the mode needs it; false with `error` if it cannot.
  bool init(const config::AuthConfig& cfg, std::string& error);
  bool enabled() const noexcept { return store_ != nullptr; }
  AuthResult authenticate(const Credentials& creds);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last{};
  };

  std::unique_ptr<KeyStore> store_;
  std::unordered_map<const KeyRecord*, PrincipalPtr> principals_;
  std::uint64_t principals_generation_ = 0;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace mcpgw::access
