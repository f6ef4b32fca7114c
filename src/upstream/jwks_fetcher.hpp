#pragma once
// Keeps a token verifier's signing keys fresh from a JWKS URL: fetched at start, again every
// `refreshS`, sooner (with backoff) after a failure, and on demand when a token names a key the
// set does not have yet (a key rotation), at most once per `refetchCooldownS` (default 10 s)
// whatever callers send.
#include "access/jwt.hpp"
#include "common/event.hpp"
#include "upstream/http_client.hpp"

#include <memory>

namespace mcpgw::upstream {

class JwksFetcher : public std::enable_shared_from_this<JwksFetcher> {
 public:
  JwksFetcher(asio::any_io_executor ex, access::JwtVerifier& verifier,
              std::chrono::milliseconds connect_timeout);

  /// Starts the refresh loop. The verifier must outlive stop().
  void start();
  void stop();

  /// Fetches now unless a fetch ended within the cooldown; waits for the fetch in progress
  /// if there is one. Returns whether the keys changed.
  asio::awaitable<bool> refresh_now();

 private:
  asio::awaitable<void> loop();
  asio::awaitable<bool> fetch();

  asio::any_io_executor ex_;
  access::JwtVerifier& verifier_;
  Url url_;
  std::shared_ptr<HttpClient> client_;
  Event wake_;       ///< stop()
  Event fetched_;    ///< a fetch ended
  bool fetching_ = false;
  bool stopped_ = false;
  Clock::time_point last_fetch_{};
};

}  // namespace mcpgw::upstream
