#include "upstream/token_exchange.hpp"

#include "access/key_store.hpp"
#include "upstream/oauth_http.hpp"
#include "upstream/remote_backend.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace mcpgw::upstream {

namespace {

namespace json = boost::json;

constexpr std::size_t kMaxAnswer = 64 * 1024;
constexpr auto kDefaultLife = std::chrono::seconds(300);  ///< when the answer gives none
constexpr auto kMargin = std::chrono::seconds(30);

/// The caller of one backend: its subject, exchanged through the server's exchanger.
class ExchangedCredential final : public Credential {
 public:
  ExchangedCredential(std::shared_ptr<TokenExchanger> exchanger,
                      std::shared_ptr<const std::string> subject)
      : exchanger_(std::move(exchanger)), subject_(std::move(subject)) {}
  asio::awaitable<std::optional<std::string>> authorization(bool renew,
                                                           std::string& error) override {
    const std::string subject = *subject_;  // it may change while the exchange runs
    auto token = co_await exchanger_->token(subject, renew, error);
    co_return token ? std::optional<std::string>("Bearer " + *token) : std::nullopt;
  }
  std::string describe() const override {
    return "token exchange at " + exchanger_->where();
  }

 private:
  std::shared_ptr<TokenExchanger> exchanger_;
  std::shared_ptr<const std::string> subject_;
};

}  // namespace

TokenExchanger::TokenExchanger(asio::any_io_executor ex, const config::ServerConfig& server,
                               const config::GatewayConfig& gateway)
    : ex_(std::move(ex)), cfg_(server.options.auth), gateway_(gateway) {
  std::string error;
  parse_url(cfg_.token_url, url_, error);  // checked when the config was read
  TlsSettings tls;
  tls.ca_file = server.options.tls_ca_file;
  tls.insecure = server.options.tls_insecure;
  client_ = std::make_shared<HttpClient>(ex_, url_, std::move(tls), gateway.timeouts.connect,
                                         server.name + " token exchange");
}

std::shared_ptr<Credential> TokenExchanger::credential(
    std::shared_ptr<const std::string> subject) {
  return std::make_shared<ExchangedCredential>(shared_from_this(), std::move(subject));
}

asio::awaitable<std::optional<std::string>> TokenExchanger::token(const std::string& subject,
                                                                  bool renew,
                                                                  std::string& error) {
  auto keep = shared_from_this();
  if (subject.empty()) {
    error = "token exchange needs the caller's OAuth access token, and this caller has none "
            "(an API key is never exchanged)";
    co_return std::nullopt;
  }
  const std::string key = access::sha256_hex(subject);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    make_room();
    it = cache_.emplace(key, std::make_shared<Entry>()).first;
  }
  auto entry = it->second;
  if (entry->pending) {  // someone asks already: their answer is ours
    auto ev = entry->pending;
    co_await ev->wait_until(Clock::now() + gateway_.timeouts.startup);
  } else if (renew || entry->token.empty() || Clock::now() >= entry->renew_at) {
    entry->pending = std::make_shared<Event>(ex_);
    co_await exchange(subject, *entry);
    std::exchange(entry->pending, nullptr)->set();
  }
  if (entry->token.empty()) {
    error = entry->error.empty() ? "token exchange did not answer in time" : entry->error;
    co_return std::nullopt;
  }
  co_return entry->token;
}

HttpRequest TokenExchanger::request(const std::string& subject) const {
  HttpRequest req;
  req.method = http::verb::post;
  req.target = url_.target;
  req.headers.set(http::field::content_type, "application/x-www-form-urlencoded");
  req.headers.set(http::field::accept, "application/json");
  std::string& body = req.body;
  add_form_field(body, "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
  add_form_field(body, "subject_token", subject);
  add_form_field(body, "subject_token_type", "urn:ietf:params:oauth:token-type:access_token");
  add_form_field(body, "requested_token_type", "urn:ietf:params:oauth:token-type:access_token");
  add_form_field(body, "audience", cfg_.audience);
  add_form_field(body, "resource", cfg_.resource);
  add_form_field(body, "scope", cfg_.scope);
  if (!cfg_.client_secret.empty()) {  // client_secret_basic (RFC 6749 §2.3.1)
    req.headers.set(http::field::authorization,
                    basic_authorization(cfg_.client_id, cfg_.client_secret));
  } else {
    add_form_field(body, "client_id", cfg_.client_id);
  }
  return req;
}

asio::awaitable<void> TokenExchanger::exchange(const std::string& subject, Entry& e) {
  e.token.clear();
  e.error.clear();
  const auto deadline = Clock::now() + gateway_.timeouts.startup;
  boost::system::error_code ec;
  std::string error;
  bool connect_failed = false;
  auto resp = co_await client_->send(request(subject), deadline, ec, error, connect_failed);
  std::string body;
  if (resp && !co_await resp->read_all(body, kMaxAnswer, deadline, ec)) {
    error = ec ? ec.message() : "the answer is too long";
    resp.reset();
  }
  if (!resp) {
    e.error = fmt::format("token exchange at {}: {}", url_.display(), error);
    co_return;
  }
  read_answer(resp->status(), body, e);
}

void TokenExchanger::read_answer(unsigned status, const std::string& body, Entry& e) const {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  const json::object* o = !ec && doc.is_object() ? &doc.get_object() : nullptr;
  if (status != 200) {
    const auto code = o != nullptr ? string_of(*o, "error") : std::string_view();
    const auto why = o != nullptr ? string_of(*o, "error_description") : std::string_view();
    e.error = code.empty()
                  ? fmt::format("token exchange at {} refused: HTTP {}", url_.display(), status)
                  : fmt::format("token exchange at {} refused: {}{}{}", url_.display(),
                                printable(code), why.empty() ? "" : ": ", printable(why));
    return;
  }
  const auto token = o != nullptr ? string_of(*o, "access_token") : std::string_view();
  if (token.empty()) {
    e.error = fmt::format("token exchange at {} answered without an access_token",
                          url_.display());
    return;
  }
  const auto life = expires_in(*o, kDefaultLife);
  e.token = std::string(token);
  e.renew_at = Clock::now() + life - std::min<Clock::duration>(kMargin, life / 5);
}

void TokenExchanger::make_room() {
  if (cache_.size() < kMaxCached) {
    return;
  }
  const auto now = Clock::now();
  for (auto it = cache_.begin(); it != cache_.end();) {
    it = !it->second->pending && now >= it->second->renew_at ? cache_.erase(it) : std::next(it);
  }
  if (cache_.size() >= kMaxCached) {
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
      if (!it->second->pending) {
        cache_.erase(it);
        break;
      }
    }
  }
}

}  // namespace mcpgw::upstream
