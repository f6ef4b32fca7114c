// Each user's tokens: kept in memory, re-read from the vault, renewed with the refresh token.
#include "upstream/oauth_client.hpp"

#include "common/clock.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

namespace {

namespace json = boost::json;

constexpr auto kMargin = std::chrono::seconds(30);

/// One user's backend: that user's token, and where they connect when they have none.
class OAuthCredential final : public Credential {
 public:
  OAuthCredential(std::shared_ptr<OAuthClient> client, std::string principal)
      : client_(std::move(client)), principal_(std::move(principal)) {}
  asio::awaitable<std::optional<std::string>> authorization(bool renew,
                                                           std::string& error) override {
    const std::string refused = renew ? last_ : std::string();
    auto token = co_await client_->token(principal_, refused, error, consent_);
    if (!token) {
      co_return std::nullopt;
    }
    last_ = *token;
    co_return "Bearer " + *token;
  }
  std::string describe() const override { return "own OAuth token of " + principal_; }
  std::string consent_url() const override {
    return consent_ ? client_->consent_url(principal_) : std::string();
  }  // (the client is shared: its links are cached per user)

 private:
  std::shared_ptr<OAuthClient> client_;
  std::string principal_;
  std::string last_;  ///< the token handed out last: the one a 401 refused
  bool consent_ = false;
};

}  // namespace

std::string OAuthTokens::to_json() const {
  json::object o;
  o["access_token"] = access_token;
  o["refresh_token"] = refresh_token;
  o["expires_at"] = expires_at;
  o["renew_at"] = renew_at;
  o["token_endpoint"] = token_endpoint;
  o["client_id"] = client_id;
  o["client_secret"] = client_secret;
  o["resource"] = resource;
  o["revocation_endpoint"] = revocation_endpoint;
  o["secret_in_form"] = secret_in_form;
  return json::serialize(o);
}

std::optional<OAuthTokens> OAuthTokens::from_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.get_object();
  OAuthTokens t;
  t.access_token = string_of(o, "access_token");
  t.refresh_token = string_of(o, "refresh_token");
  t.token_endpoint = string_of(o, "token_endpoint");
  t.client_id = string_of(o, "client_id");
  t.client_secret = string_of(o, "client_secret");
  t.resource = string_of(o, "resource");
  t.revocation_endpoint = string_of(o, "revocation_endpoint");
  t.expires_at = int_of(o, "expires_at");
  t.renew_at = int_of(o, "renew_at");
  const auto* form = o.if_contains("secret_in_form");
  t.secret_in_form = form != nullptr && form->is_bool() && form->get_bool();
  if (t.access_token.empty()) {
    return std::nullopt;
  }
  return t;
}

OAuthClient::OAuthClient(asio::any_io_executor ex, const config::ServerConfig& server,
                         const config::GatewayConfig& gateway,
                         std::shared_ptr<access::VaultReader> vault, std::string public_url)
    : ex_(std::move(ex)),
      server_(server.name),
      server_url_(server.url),
      cfg_(server.options.auth),
      gateway_(gateway),
      vault_(std::move(vault)),
      public_url_(std::move(public_url)) {
  tls_.ca_file = server.options.tls_ca_file;
  tls_.insecure = server.options.tls_insecure;
}

std::shared_ptr<Credential> OAuthClient::credential(std::string principal) {
  return std::make_shared<OAuthCredential>(shared_from_this(), std::move(principal));
}

std::shared_ptr<OAuthClient::User> OAuthClient::user(const std::string& principal) {
  auto it = users_.find(principal);
  if (it == users_.end()) {
    make_room();
    it = users_.emplace(principal, std::make_shared<User>()).first;
  }
  return it->second;
}

asio::awaitable<std::optional<std::string>> OAuthClient::token(const std::string& principal,
                                                               const std::string& refused,
                                                               std::string& error,
                                                               bool& consent) {
  auto keep_alive = shared_from_this();
  consent = false;
  if (principal.empty()) {
    error = fmt::format("server '{}' acts with each user's own account, and this caller is "
                        "anonymous", server_);
    co_return std::nullopt;
  }
  if (!vault_) {
    error = "the gateway has no vault to keep the users' tokens in";
    co_return std::nullopt;
  }
  auto u = user(principal);
  // A read or renewal for this user that runs already decides for us too, unless it ends with
  // the very token the server refused: then one more round renews it.
  for (int round = 0; round < 2; ++round) {
    if (!u->pending) {
      u->pending = std::make_shared<Event>(ex_);
      co_await settle(principal, *u, refused);
      std::exchange(u->pending, nullptr)->set();
      break;
    }
    auto ev = u->pending;
    co_await ev->wait_until(Clock::now() + gateway_.timeouts.startup);
    if (refused.empty() || u->tokens.access_token != refused) {
      break;
    }
  }
  if (u->tokens.access_token.empty()) {
    error = u->error.empty() ? "no token could be had in time" : u->error;
    consent = u->consent;
    co_return std::nullopt;
  }
  co_return u->tokens.access_token;
}

asio::awaitable<void> OAuthClient::settle(const std::string& principal, User& u,
                                          const std::string& refused) {
  if (Clock::now() >= u.recheck_at) {
    co_await load(principal, u);
  }
  if (u.tokens.access_token.empty()) {
    co_return;
  }
  const auto now = unix_s();
  const bool renew = !refused.empty() && refused == u.tokens.access_token;
  if (renew || (u.tokens.renew_at != 0 && now >= u.tokens.renew_at)) {
    co_await this->renew(principal, u);
  }
}

asio::awaitable<void> OAuthClient::load(const std::string& principal, User& u) {
  std::vector<std::string> names{oauth_entry_name(server_)};
  const auto version = u.version;
  auto found = co_await vault_->read(principal, std::move(names));
  if (u.version != version) {
    co_return;  // the user connected meanwhile: what was read is older
  }
  if (!found.error.empty()) {
    // Keep what is in memory: the store may be back on the next read.
    u.error = "cannot read the vault: " + found.error;
    u.recheck_at = Clock::now() + std::chrono::seconds(1);
    co_return;
  }
  u.recheck_at = Clock::now() + kRecheck;
  auto it = found.values.find(oauth_entry_name(server_));
  std::optional<OAuthTokens> tokens;
  if (it != found.values.end()) {
    tokens = OAuthTokens::from_json(it->second);
  }
  if (!tokens) {
    u.tokens = OAuthTokens{};
    u.consent = true;
    u.error = fmt::format("server '{}' acts with your own account, which you (user {}) have "
                          "not connected: open {} in a browser, then call again",
                          server_, principal, consent_url(principal));
    co_return;
  }
  u.tokens = std::move(*tokens);
  u.consent = false;
  u.error.clear();
}

asio::awaitable<void> OAuthClient::renew(const std::string& principal, User& u) {
  if (u.tokens.refresh_token.empty()) {
    co_await reconnect(principal, u,
                       std::string("your token expired and no refresh token came with it"));
    co_return;
  }
  std::string body;
  add_form_field(body, "grant_type", "refresh_token");
  add_form_field(body, "refresh_token", u.tokens.refresh_token);
  add_form_field(body, "resource", u.tokens.resource);
  const OAuthTokens current = u.tokens;  // `u` may change while the request runs
  const std::string& used = current.refresh_token;
  const auto version = u.version;
  auto answer = co_await token_request(current, std::move(body));
  if (u.version != version) {
    co_return;  // the user connected (again) meanwhile: their new tokens stand
  }
  OAuthTokens next = current;
  std::string error;
  if (read_tokens(answer, next, error)) {
    if (!co_await keep(principal, next, error)) {  // still good here, until the next re-read
      spdlog::warn("[{}] renewed the token of {}, but {}", server_, principal, error);
    }
    if (u.version != version) {
      co_return;
    }
    u.tokens = std::move(next);
    u.error.clear();
    co_return;
  }
  if (answer.status / 100 == 4) {
    co_await load(principal, u);  // another replica may have renewed it with this token
    if (!u.tokens.access_token.empty() && u.tokens.refresh_token != used) {
      co_return;
    }
    co_await reconnect(principal, u,
                       fmt::format("the authorization server refused to renew your token ({})",
                                   error));
    co_return;
  }
  u.error = fmt::format("server '{}': renewing your token failed: {}", server_, error);
  if (u.tokens.expires_at != 0 && unix_s() >= u.tokens.expires_at) {
    u.tokens.access_token.clear();  // no use sending it; the next call tries again
    u.recheck_at = Clock::now();
  }
}

asio::awaitable<void> OAuthClient::reconnect(const std::string& principal, User& u,
                                             std::string why) {
  u.tokens = OAuthTokens{};
  u.consent = true;
  u.recheck_at = Clock::now() + kRecheck;
  if (auto error = co_await vault_->write(principal, oauth_entry_name(server_), std::nullopt);
      !error.empty()) {
    spdlog::warn("[{}] cannot remove the tokens of {}: {}", server_, principal, error);
  }
  u.error = fmt::format("server '{}': {}: connect your account again (user {}) at {}, then "
                        "call again", server_, why, principal, consent_url(principal));
  spdlog::info("[{}] {} must connect again: {}", server_, principal, why);
}

asio::awaitable<bool> OAuthClient::keep(const std::string& principal, const OAuthTokens& t,
                                        std::string& error) {
  error = co_await vault_->write(principal, oauth_entry_name(server_), t.to_json());
  if (!error.empty()) {
    error = "cannot keep the tokens in the vault: " + error;
  }
  co_return error.empty();
}

bool OAuthClient::read_tokens(const Fetched& answer, OAuthTokens& t, std::string& error) const {
  if (answer.status != 200) {
    error = answer.status == 0 ? answer.error : oauth_error(answer);
    return false;
  }
  boost::system::error_code ec;
  const json::value doc = json::parse(answer.body, ec);
  const json::object* o = !ec && doc.is_object() ? &doc.get_object() : nullptr;
  const auto access = o != nullptr ? string_of(*o, "access_token") : std::string_view();
  if (access.empty()) {
    error = "the token endpoint answered without an access_token";
    return false;
  }
  t.access_token = access;
  if (const auto refresh = string_of(*o, "refresh_token"); !refresh.empty()) {
    t.refresh_token = refresh;  // a rotated one; else the old one stays good
  }
  const auto life = expires_in(*o, std::chrono::seconds(0));
  t.expires_at = life.count() > 0 ? unix_s() + life.count() : 0;
  t.renew_at = life.count() > 0
                   ? t.expires_at - std::min<std::int64_t>(kMargin.count(), life.count() / 5)
                   : 0;
  return true;
}

asio::awaitable<Fetched> post_as_client(asio::any_io_executor ex, const OAuthTokens& who,
                                        const std::string& endpoint, std::string body,
                                        const FetchOptions& opts) {
  add_form_field(body, "client_id", who.client_id);
  std::string authorization;
  if (!who.client_secret.empty() && who.secret_in_form) {
    add_form_field(body, "client_secret", who.client_secret);
  } else if (!who.client_secret.empty()) {
    authorization = basic_authorization(who.client_id, who.client_secret);
  }
  co_return co_await fetch(ex, endpoint, http::verb::post, std::move(body),
                           std::string_view("application/x-www-form-urlencoded"), authorization,
                           opts);
}

asio::awaitable<Fetched> OAuthClient::token_request(const OAuthTokens& who, std::string body) {
  const auto opts = fetch_options();
  co_return co_await post_as_client(ex_, who, who.token_endpoint, std::move(body), opts);
}

FetchOptions OAuthClient::fetch_options() const {
  FetchOptions o;
  o.tls = tls_;
  o.connect_timeout = gateway_.timeouts.connect;
  o.deadline = Clock::now() + gateway_.timeouts.startup;
  return o;
}

void OAuthClient::make_room() {
  if (users_.size() < kMaxUsers) {
    return;
  }
  for (auto it = users_.begin(); it != users_.end(); ++it) {
    if (!it->second->pending) {  // the vault keeps their tokens: it is only a cache
      users_.erase(it);
      return;
    }
  }
}

}  // namespace mcpgw::upstream
