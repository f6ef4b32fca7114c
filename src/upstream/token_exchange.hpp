#pragma once
// RFC 8693 token exchange toward one remote server: the caller's OAuth access token (the
// subject) is traded at the configured token endpoint for a token meant for the server
// (`audience`, `resource`, `scope`), so the caller's own token never leaves the gateway. Tokens
// are cached by a digest of the subject until shortly before they expire; callers of the same
// subject share one exchange in flight.
#include "config/config.hpp"
#include "upstream/credential.hpp"
#include "upstream/http_client.hpp"

#include <memory>
#include <unordered_map>

namespace mcpgw::upstream {

class TokenExchanger : public std::enable_shared_from_this<TokenExchanger> {
 public:
  /// Tokens kept at most; the oldest expired ones go first.
  static constexpr std::size_t kMaxCached = 10000;

  TokenExchanger(asio::any_io_executor ex, const config::ServerConfig& server,
                 const config::GatewayConfig& gateway);

  /// The server's token for `subject` (the caller's token, without "Bearer "): cached unless
  /// near its end or `renew`. nullopt with `error` when the endpoint cannot be reached or
  /// refuses.
  asio::awaitable<std::optional<std::string>> token(const std::string& subject, bool renew,
                                                    std::string& error);
  /// A Credential for one caller's backend: it exchanges whatever `subject` holds then (the
  /// caller's latest token).
  std::shared_ptr<Credential> credential(std::shared_ptr<const std::string> subject);
  const config::UpstreamAuth& settings() const noexcept { return cfg_; }
  /// The token endpoint, for messages (no query).
  std::string where() const { return url_.display(); }
  std::size_t cached() const noexcept { return cache_.size(); }

 private:
  struct Entry {
    std::string token;
    Clock::time_point renew_at{};  ///< a little before it expires
    std::shared_ptr<Event> pending;  ///< an exchange in flight; set when it ends
    std::string error;             ///< why the last exchange failed
  };
  /// One exchange: the request, the answer read into `e`.
  asio::awaitable<void> exchange(const std::string& subject, Entry& e);
  HttpRequest request(const std::string& subject) const;
  void read_answer(unsigned status, const std::string& body, Entry& e) const;
  void make_room();

  asio::any_io_executor ex_;
  config::UpstreamAuth cfg_;
  const config::GatewayConfig& gateway_;
  Url url_;
  std::shared_ptr<HttpClient> client_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> cache_;  ///< by digest of subject
};

}  // namespace mcpgw::upstream
