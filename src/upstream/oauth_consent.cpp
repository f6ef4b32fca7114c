// The consent flow of the gateway's OAuth client: consent links, discovery and registration,
// the authorization request (PKCE S256, `resource`), and redeeming the code.
#include "upstream/oauth_client.hpp"

#include "common/clock.hpp"

#include "common/base64.hpp"
#include "common/random.hpp"
#include "upstream/consent_link.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

namespace {

namespace json = boost::json;

constexpr std::string_view kStatePurpose = "mcpgw oauth state";

std::int64_t unix_after(std::chrono::seconds d) { return unix_s() + d.count(); }

std::string s256(std::string_view verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return base64url_encode(
      std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string seal_state(const Sealer& sealer, const ConsentState& st) {
  json::object o;
  o["p"] = st.principal;
  o["s"] = st.server;
  o["v"] = st.verifier;
  o["n"] = st.nonce;
  o["c"] = st.client_id;
  o["k"] = st.client_secret;
  o["t"] = st.token_endpoint;
  o["r"] = st.resource;
  o["u"] = st.redirect_uri;
  o["x"] = st.revocation_endpoint;
  o["f"] = st.secret_in_form;
  o["e"] = st.expires_at;
  return sealer.seal(json::serialize(o), kStatePurpose);
}

}  // namespace

std::string client_metadata_document(const std::string& public_url) {
  json::object doc;
  doc["client_id"] = public_url + "/oauth/client.json";
  doc["client_name"] = "mcpgw";
  doc["redirect_uris"] = json::array{json::value(public_url + "/oauth/callback")};
  doc["grant_types"] = json::array{"authorization_code", "refresh_token"};
  doc["response_types"] = json::array{"code"};
  doc["token_endpoint_auth_method"] = "none";
  return json::serialize(doc);
}

std::string oauth_entry_name(std::string_view server) {
  return fmt::format("oauth:{}", server);
}

std::optional<ConsentState> open_consent_state(const Sealer& sealer, std::string_view state) {
  auto plain = sealer.open(state, kStatePurpose);
  boost::system::error_code ec;
  const json::value v = plain ? json::parse(*plain, ec) : json::value();
  if (!plain || ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.get_object();
  ConsentState st;
  st.principal = string_of(o, "p");
  st.server = string_of(o, "s");
  st.verifier = string_of(o, "v");
  st.nonce = string_of(o, "n");
  st.client_id = string_of(o, "c");
  st.client_secret = string_of(o, "k");
  st.token_endpoint = string_of(o, "t");
  st.resource = string_of(o, "r");
  st.redirect_uri = string_of(o, "u");
  st.revocation_endpoint = string_of(o, "x");
  const auto* f = o.if_contains("f");
  st.secret_in_form = f != nullptr && f->is_bool() && f->get_bool();
  st.expires_at = int_of(o, "e");
  if (st.principal.empty() || st.server.empty() || unix_s() > st.expires_at) {
    return std::nullopt;
  }
  return st;
}

std::string OAuthClient::consent_url(const std::string& principal) {
  if (!vault_) {
    return {};
  }
  auto u = user(principal);
  if (u->link.empty() || Clock::now() >= u->link_until) {
    u->link = consent_link(public_url_, vault_->sealer(), principal, server_);
    u->link_until = Clock::now() + kConsentLinkLife / 3;  // still good for 10 minutes when given
  }
  return u->link;
}

std::optional<std::string> OAuthClient::open_ticket(std::string_view ticket) const {
  return vault_ ? open_consent_ticket(vault_->sealer(), ticket, server_) : std::nullopt;
}

asio::awaitable<std::optional<std::string>> OAuthClient::authorize_url(
    const std::string& principal, std::string& nonce, std::string& error) {
  auto keep_alive = shared_from_this();
  if (!co_await prepare(error)) {
    co_return std::nullopt;
  }
  ConsentState st;
  st.principal = principal;
  st.server = server_;
  st.verifier = random_hex(32);
  st.nonce = nonce = random_hex(16);
  st.client_id = registration_->client_id;
  st.client_secret = registration_->client_secret;
  st.token_endpoint = info_->token_endpoint;
  st.resource = !cfg_.resource.empty() ? cfg_.resource
                : !info_->resource.empty() ? info_->resource : server_url_;
  st.redirect_uri = redirect_uri();
  st.revocation_endpoint = info_->revocation_endpoint;
  st.secret_in_form = info_->secret_in_form;
  st.expires_at = unix_after(kStateLife);
  std::string scope = cfg_.scope;
  for (const auto& s : cfg_.scope.empty() ? info_->scopes : std::vector<std::string>{}) {
    scope += scope.empty() ? s : " " + s;
  }
  std::string query;
  add_form_field(query, "response_type", "code");
  add_form_field(query, "client_id", st.client_id);
  add_form_field(query, "redirect_uri", st.redirect_uri);
  add_form_field(query, "code_challenge", s256(st.verifier));
  add_form_field(query, "code_challenge_method", "S256");
  add_form_field(query, "state", seal_state(vault_->sealer(), st));
  add_form_field(query, "resource", st.resource);
  add_form_field(query, "scope", scope);
  const auto& endpoint = info_->authorization_endpoint;
  co_return endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") + query;
}

asio::awaitable<bool> OAuthClient::redeem(const ConsentState& st, const std::string& code,
                                          std::string& error) {
  auto keep_alive = shared_from_this();
  OAuthTokens t;
  t.token_endpoint = st.token_endpoint;
  t.client_id = st.client_id;
  t.client_secret = st.client_secret;
  t.resource = st.resource;
  t.revocation_endpoint = st.revocation_endpoint;
  t.secret_in_form = st.secret_in_form;
  std::string body;
  add_form_field(body, "grant_type", "authorization_code");
  add_form_field(body, "code", code);
  add_form_field(body, "redirect_uri", st.redirect_uri);
  add_form_field(body, "code_verifier", st.verifier);
  add_form_field(body, "resource", st.resource);
  auto answer = co_await token_request(t, std::move(body));
  if (!read_tokens(answer, t, error) || !co_await keep(st.principal, t, error)) {
    co_return false;
  }
  auto u = user(st.principal);
  ++u->version;
  u->tokens = std::move(t);
  u->consent = false;
  u->error.clear();
  u->recheck_at = Clock::now() + kRecheck;
  spdlog::info("[{}] {} connected their account", server_, st.principal);
  co_return true;
}

asio::awaitable<bool> OAuthClient::prepare(std::string& error) {
  if (preparing_) {  // another consent prepares: wait for it
    auto ev = preparing_;
    co_await ev->wait_until(Clock::now() + gateway_.timeouts.startup);
  }
  if (info_ && registration_) {
    co_return true;
  }
  preparing_ = std::make_shared<Event>(ex_);
  auto done = [this] { std::exchange(preparing_, nullptr)->set(); };
  if (!info_) {
    info_ = co_await discover_auth_server(ex_, server_url_, fetch_options(), error);
  }
  const bool ok = info_ && co_await register_client(error);
  done();
  if (!ok) {
    error = fmt::format("server '{}': {}", server_, error);
    spdlog::warn("{}", error);
  }
  co_return ok;
}

asio::awaitable<bool> OAuthClient::register_client(std::string& error) {
  if (!cfg_.client_id.empty()) {
    registration_ = Registration{cfg_.client_id, cfg_.client_secret};
    co_return true;
  }
  if (info_->client_id_metadata && public_url_.starts_with("https://")) {
    registration_ = Registration{client_metadata_url(), ""};
    co_return true;
  }
  if (info_->registration_endpoint.empty()) {
    error = fmt::format("the authorization server {} takes no client registration and no "
                        "client metadata document{}: register a client there and set its "
                        "clientId", info_->issuer,
                        public_url_.starts_with("https://") ? "" : " (which needs an https "
                                                                   "gateway.publicUrl)");
    co_return false;
  }
  json::object meta;
  meta["client_name"] = "mcpgw";
  meta["redirect_uris"] = json::array{json::value(redirect_uri())};
  meta["grant_types"] = json::array{"authorization_code", "refresh_token"};
  meta["response_types"] = json::array{"code"};
  meta["token_endpoint_auth_method"] = "none";
  if (!cfg_.scope.empty()) {
    meta["scope"] = cfg_.scope;
  }
  auto answer = co_await fetch(ex_, info_->registration_endpoint, http::verb::post,
                               json::serialize(meta), std::string_view("application/json"),
                               std::string_view(), fetch_options());
  boost::system::error_code ec;
  const json::value doc = json::parse(answer.body, ec);
  const auto* o = !ec && doc.is_object() ? &doc.get_object() : nullptr;
  const auto id = o != nullptr ? string_of(*o, "client_id") : std::string_view();
  if (answer.status / 100 != 2 || id.empty()) {
    error = fmt::format("registering at {} failed: {}", info_->registration_endpoint,
                        answer.status == 0 ? answer.error : oauth_error(answer));
    co_return false;
  }
  registration_ = Registration{std::string(id), std::string(string_of(*o, "client_secret"))};
  spdlog::info("[{}] registered as OAuth client {} at {}", server_, id, info_->issuer);
  co_return true;
}

}  // namespace mcpgw::upstream
