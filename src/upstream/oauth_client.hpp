#pragma once
// The gateway as an OAuth client of one remote MCP server, for each of its users: a user
// connects their own account once in a browser (the consent flow: authorization code + PKCE
// with the `resource` indicator, the client pre-registered, named by the gateway's client
// metadata document, or registered dynamically), and from then on every upstream request of
// theirs carries their own access token. Tokens are kept sealed in the vault as the entry
// "oauth:SERVER" of the user, re-read now and then (another replica may have renewed them, or
// `mcpgw tokens revoke` removed them), renewed with the refresh token before they expire or
// when the server refuses one, one renewal in flight per user.
#include "access/vault.hpp"
#include "config/config.hpp"
#include "upstream/credential.hpp"
#include "upstream/oauth_discovery.hpp"

#include <memory>
#include <unordered_map>

namespace mcpgw::upstream {

/// One user's tokens for one server, as kept in the vault (JSON). Times are unix seconds.
struct OAuthTokens {
  std::string access_token, refresh_token;
  std::int64_t expires_at = 0;  ///< 0: not said
  std::int64_t renew_at = 0;    ///< a little before expires_at; 0: only when refused
  std::string token_endpoint, client_id, client_secret, resource;
  std::string revocation_endpoint;  ///< empty: the authorization server offers none
  bool secret_in_form = false;      ///< client_secret_post rather than HTTP Basic
  std::string to_json() const;
  static std::optional<OAuthTokens> from_json(std::string_view text);
};

/// POSTs the form `body` to `endpoint` as the tokens' client: its client_id in the form, its
/// secret (when it has one) by HTTP Basic or in the form.
asio::awaitable<Fetched> post_as_client(asio::any_io_executor ex, const OAuthTokens& who,
                                        const std::string& endpoint, std::string body,
                                        const FetchOptions& opts);

/// What the browser carries from /oauth/start to /oauth/callback, sealed: who asked, and what
/// redeeming the code needs.
struct ConsentState {
  std::string principal, server, verifier, nonce;
  std::string client_id, client_secret, token_endpoint, resource, redirect_uri;
  std::string revocation_endpoint;
  bool secret_in_form = false;
  std::int64_t expires_at = 0;
};

/// The gateway's client metadata document, served at PUBLIC_URL/oauth/client.json and used as
/// its client_id where the authorization server takes one.
std::string client_metadata_document(const std::string& public_url);
/// The vault entry holding a user's tokens for `server`.
std::string oauth_entry_name(std::string_view server);
/// Opens the `state` of a callback: nullopt when it was altered, sealed with other keys, or is
/// too old.
std::optional<ConsentState> open_consent_state(const Sealer& sealer, std::string_view state);

class OAuthClient : public std::enable_shared_from_this<OAuthClient> {
 public:
  static constexpr auto kStateLife = std::chrono::minutes(10);   ///< from start to callback
  static constexpr auto kRecheck = std::chrono::seconds(10);     ///< re-read from the vault
  static constexpr std::size_t kMaxUsers = 10000;                ///< tokens kept in memory

  OAuthClient(asio::any_io_executor ex, const config::ServerConfig& server,
              const config::GatewayConfig& gateway, std::shared_ptr<access::VaultReader> vault,
              std::string public_url);

  const config::UpstreamAuth& settings() const noexcept { return cfg_; }
  const std::string& public_url() const noexcept { return public_url_; }
  /// The Credential of one user's backend (`principal` empty: an anonymous caller).
  std::shared_ptr<Credential> credential(std::string principal);

  /// `principal`'s access token: from memory while fresh, renewed when near its end or when
  /// it is still `refused` (the server answered 401 to it; empty: none was). A request
  /// refused a token that was renewed meanwhile gets the new one without renewing again.
  /// nullopt with `error`; `consent` when the user must connect (again) first.
  asio::awaitable<std::optional<std::string>> token(const std::string& principal,
                                                    const std::string& refused,
                                                    std::string& error, bool& consent);

  // The consent flow (see downstream/oauth_pages.cpp).
  /// The link a user opens to connect their account: /oauth/start with a sealed ticket (the
  /// same one for a few minutes).
  std::string consent_url(const std::string& principal);
  /// Who a ticket of consent_url() was made for; nullopt when altered, expired or for
  /// another server.
  std::optional<std::string> open_ticket(std::string_view ticket) const;
  /// Where to send the user's browser to authorize: the server's authorization server is
  /// discovered and the gateway's client registered first. `nonce` is for the browser's
  /// cookie. nullopt with `error`.
  asio::awaitable<std::optional<std::string>> authorize_url(const std::string& principal,
                                                            std::string& nonce,
                                                            std::string& error);
  /// Trades the callback's `code` for the user's tokens and keeps them. False with `error`.
  asio::awaitable<bool> redeem(const ConsentState& state, const std::string& code,
                               std::string& error);
  /// The gateway's client metadata document (served at /oauth/client.json).
  std::string client_metadata_url() const { return public_url_ + "/oauth/client.json"; }
  std::string redirect_uri() const { return public_url_ + "/oauth/callback"; }

 private:
  struct User {
    OAuthTokens tokens;
    Clock::time_point recheck_at{};  ///< when to read the vault again
    std::shared_ptr<Event> pending;  ///< a read or renewal in flight; set when it ends
    std::string error;
    bool consent = false;  ///< the user must connect (again)
    /// Bumped when the user connects: a vault read begun before does not undo it.
    std::uint64_t version = 0;
    /// The user's latest consent link (one link in every message while it is young).
    std::string link;
    Clock::time_point link_until{};
  };
  struct Registration {
    std::string client_id, client_secret;
  };

  std::shared_ptr<User> user(const std::string& principal);
  asio::awaitable<void> settle(const std::string& principal, User& u,
                               const std::string& refused);
  asio::awaitable<void> load(const std::string& principal, User& u);
  asio::awaitable<void> renew(const std::string& principal, User& u);
  /// The user has no usable tokens: their entry is dropped and they are sent to consent.
  asio::awaitable<void> reconnect(const std::string& principal, User& u, std::string why);
  asio::awaitable<bool> keep(const std::string& principal, const OAuthTokens& t,
                             std::string& error);
  /// A token endpoint's answer read into `t` (the refresh token kept when none is new).
  bool read_tokens(const Fetched& answer, OAuthTokens& t, std::string& error) const;
  asio::awaitable<Fetched> token_request(const OAuthTokens& who, std::string body);
  /// Discovery and registration, once (again after a failure).
  asio::awaitable<bool> prepare(std::string& error);
  asio::awaitable<bool> register_client(std::string& error);
  FetchOptions fetch_options() const;
  void make_room();

  asio::any_io_executor ex_;
  std::string server_, server_url_;
  config::UpstreamAuth cfg_;
  const config::GatewayConfig& gateway_;
  TlsSettings tls_;
  std::shared_ptr<access::VaultReader> vault_;
  std::string public_url_;
  std::optional<AuthServerInfo> info_;
  std::optional<Registration> registration_;
  std::shared_ptr<Event> preparing_;
  std::unordered_map<std::string, std::shared_ptr<User>> users_;
};

}  // namespace mcpgw::upstream
