#pragma once
// Authentication of every request to an MCP endpoint: finds the caller's credential in the
// request's headers (Authorization: Bearer, x-api-key, or LiteLLM's x-litellm-api-key). A JWT
// goes to the token verifier (auth mode jwt), anything else to the key store (mode keys), which
// also applies the key's rate limit (a token bucket per key).
#include "access/jwt.hpp"
#include "access/key_store.hpp"
#include "common/event.hpp"
#include "config/config.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace mcpgw::access {

/// The credential in a header value: "Bearer <x>" (any case) or a bare "<x>", trimmed.
std::string_view bearer_value(std::string_view header) noexcept;

struct Credentials {
  std::string_view authorization;      ///< "Bearer <key>"
  std::string_view x_api_key;          ///< "<key>"
  std::string_view x_litellm_api_key;  ///< "Bearer <key>" (LiteLLM's header)
  std::string_view client;             ///< the caller's address, for throttling guesses
  KeyMemo* memo = nullptr;             ///< the connection's last key, if it keeps one
};

enum class AuthOutcome {
  ok,            ///< principal set
  anonymous,     ///< auth mode none: everything allowed
  missing,       ///< no credential: 401
  invalid,       ///< unknown, revoked or expired: 401
  rate_limited,  ///< 429, retry_after_s set
  forbidden,     ///< 403: a valid token that grants nothing here (insufficient_scope)
  unavailable,   ///< 503: the shared key store cannot be read (retry_after_s set)
};

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::anonymous;
  PrincipalPtr principal;
  std::string reason;  ///< for the client; never contains the key
  std::string key_name;  ///< the key's name when it was recognised (revoked, expired, limited)
  int retry_after_s = 0;
  /// The key's rate limit (calls a minute) when it is to be taken elsewhere (shared by the
  /// replicas, authenticate(…, false)); not taken yet.
  std::optional<double> rate_per_min;
  bool token = false;          ///< the credential was a JWT
  /// An API key came in the Authorization header: that header is the gateway's own
  /// credential, so it is never passed on to a server (forwardAuthorization).
  bool key_in_authorization = false;
  bool refresh_keys = false;   ///< signed by an unknown key: fetching the JWKS again may help
};

class Authenticator {
 public:
  /// What an auth configuration needs: its key store opened, its JWKS file read. Made before
  /// anything changes, so a reload that cannot have them is refused whole.
  struct Prepared {
    std::unique_ptr<KeyStore> store;
    std::unique_ptr<JwtVerifier> jwt;
  };
  /// Null with `error` when the settings are invalid or the store or JWKS file cannot be used.
  /// A PostgreSQL key store is followed on `ex` (and needs it).
  static std::optional<Prepared> prepare(const config::AuthConfig& cfg, std::string& error,
                                         boost::asio::any_io_executor ex = {});
  /// Serves `next` from the next request on. The previous verifier is kept until the process
  /// ends (a JWKS fetcher may still point at it); key rate buckets and failure counts stay.
  void adopt(Prepared next);
  /// prepare, then adopt; false with `error` if it cannot.
  bool init(const config::AuthConfig& cfg, std::string& error,
            boost::asio::any_io_executor ex = {});
  bool enabled() const noexcept { return store_ != nullptr || jwt_ != nullptr; }
  /// `local_rates`: a key's rate limit is taken from this process's bucket; false: it is left
  /// in `rate_per_min` for the caller (shared buckets), who then calls rate_limited() or
  /// take_local().
  AuthResult authenticate(const Credentials& creds, bool local_rates = true);
  /// Turns `r` into the 429 of a spent rate limit.
  static void rate_limited(AuthResult& r, int retry_after_s);
  /// Counts a refusal for a spent rate limit decided outside authenticate().
  static void count_rate_limited();
  /// Takes `r`'s call from this process's bucket for its key; false (and `r` a 429) when empty.
  bool take_local(AuthResult& r, double per_min);
  /// Failed credentials allowed per client address and minute (limits.authFailuresPerMin);
  /// beyond them every credential from that address gets 429 until the budget refills.
  void set_failure_limit(std::size_t per_minute) noexcept { failures_per_min_ = per_minute; }
  /// The token verifier (auth mode jwt), else null.
  JwtVerifier* jwt() noexcept { return jwt_.get(); }
  /// The key store (auth mode keys), else null.
  KeyStore* keys() noexcept { return store_.get(); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last{};
  };

  AuthResult authenticate_token(std::string_view token);
  AuthResult check(const Credentials& creds, bool local_rates);
  /// Takes a token from `b` (capacity `per_min`, refilled continuously); false when empty.
  static bool take(Bucket& b, double per_min, bool fresh);
  /// The client's failure budget is spent: seconds until one more guess is allowed, else 0.
  int guesses_locked(std::string_view client);
  void record_failure(std::string_view client);

  std::unique_ptr<KeyStore> store_;
  std::unique_ptr<JwtVerifier> jwt_;
  std::vector<std::unique_ptr<JwtVerifier>> retired_jwt_;  ///< replaced by a reload
  std::unordered_map<const KeyRecord*, PrincipalPtr> principals_;
  std::uint64_t principals_generation_ = 0;
  std::unordered_map<std::string, Bucket> buckets_;
  std::unordered_map<std::string, Bucket> failures_;  ///< by client address
  std::size_t failures_per_min_ = 0;                  ///< 0: no throttling
};

}  // namespace mcpgw::access
