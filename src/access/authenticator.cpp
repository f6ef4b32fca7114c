#include "access/authenticator.hpp"

#include "access/pg_keys.hpp"
#include "common/metrics.hpp"
#include "store/postgres.hpp"

#include <algorithm>
#include <ctime>

namespace mcpgw::access {

std::string_view bearer_value(std::string_view v) noexcept {
  constexpr std::string_view kBearer = "bearer ";
  if (v.size() > kBearer.size()) {
    bool match = true;
    for (std::size_t i = 0; i < kBearer.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(v[i])) == kBearer[i];
    }
    if (match) {
      v.remove_prefix(kBearer.size());
    }
  }
  while (!v.empty() && v.front() == ' ') {
    v.remove_prefix(1);
  }
  while (!v.empty() && v.back() == ' ') {
    v.remove_suffix(1);
  }
  return v;
}

std::optional<Authenticator::Prepared> Authenticator::prepare(const config::AuthConfig& cfg,
                                                              std::string& error,
                                                              boost::asio::any_io_executor ex) {
  if (auto why = config::check_auth(cfg); !why.empty()) {
    error = why;
    return std::nullopt;
  }
  Prepared p;
  if (cfg.uses_keys() && store::is_postgres_url(cfg.store)) {
    if (!ex) {
      error = "a PostgreSQL key store is read on the event loop, which is not running";
      return std::nullopt;
    }
    auto source = PgKeySource::create(ex, cfg.store, cfg.store_timeout);
    source->start();
    p.store = KeyStore::follow(std::move(source), cfg.store_down_cached);
  } else if (cfg.uses_keys()) {
    p.store = KeyStore::open(cfg.store, error);
    if (!p.store) {
      return std::nullopt;
    }
  }
  if (cfg.uses_jwt()) {
    p.jwt = std::make_unique<JwtVerifier>(cfg.jwt);
    if (!cfg.jwt.jwks_is_url && !p.jwt->poll_file(error)) {
      return std::nullopt;  // a JWKS file that cannot be used is a configuration error
    }
  }
  return p;
}

void Authenticator::adopt(Prepared next) {
  if (jwt_) {
    retired_jwt_.push_back(std::move(jwt_));
  }
  jwt_ = std::move(next.jwt);
  store_ = std::move(next.store);
  principals_.clear();  // keyed by the old store's records
  principals_generation_ = store_ ? store_->generation() : 0;
}

bool Authenticator::init(const config::AuthConfig& cfg, std::string& error,
                         boost::asio::any_io_executor ex) {
  auto prepared = prepare(cfg, error, std::move(ex));
  if (!prepared) {
    return false;
  }
  adopt(std::move(*prepared));
  return true;
}

AuthResult Authenticator::authenticate_token(std::string_view token) {
  AuthResult r;
  r.token = true;
  std::string error;
  jwt_->poll_file(error);  // keeps the keys it had when a changed file is broken
  auto v = jwt_->verify(token, static_cast<std::int64_t>(std::time(nullptr)));
  r.key_name = v.subject;
  r.reason = std::move(v.reason);
  switch (v.status) {
    case JwtStatus::ok:
      r.outcome = AuthOutcome::ok;
      r.principal = std::move(v.principal);
      break;
    case JwtStatus::forbidden:
      r.outcome = AuthOutcome::forbidden;
      break;
    case JwtStatus::unknown_kid:
    case JwtStatus::no_keys:
      r.refresh_keys = jwt_->config().jwks_is_url;
      r.outcome = AuthOutcome::invalid;
      break;
    case JwtStatus::invalid:
      r.outcome = AuthOutcome::invalid;
      break;
  }
  return r;
}

bool Authenticator::take(Bucket& b, double per_min, bool fresh) {
  const auto t = Clock::now();
  if (fresh) {
    b.tokens = per_min;
  } else {
    const double elapsed = std::chrono::duration<double>(t - b.last).count();
    b.tokens = std::min(per_min, b.tokens + elapsed * per_min / 60.0);
  }
  b.last = t;
  if (b.tokens < 1.0) {
    return false;
  }
  b.tokens -= 1.0;
  return true;
}

int Authenticator::guesses_locked(std::string_view client) {
  if (failures_per_min_ == 0 || client.empty()) {
    return 0;
  }
  auto it = failures_.find(std::string(client));
  if (it == failures_.end()) {
    return 0;
  }
  Bucket probe = it->second;
  if (take(probe, static_cast<double>(failures_per_min_), false)) {
    return 0;
  }
  return static_cast<int>((1.0 - probe.tokens) * 60.0 / static_cast<double>(failures_per_min_)) + 1;
}

void Authenticator::record_failure(std::string_view client) {
  if (failures_per_min_ == 0 || client.empty()) {
    return;
  }
  if (failures_.size() >= 100000) {
    failures_.clear();  // a flood of addresses: start over rather than grow without end
  }
  auto [it, fresh] = failures_.try_emplace(std::string(client));
  take(it->second, static_cast<double>(failures_per_min_), fresh);
}

namespace {

/// A request authentication turned away, by why (a key's spent rate limit among them).
void count_refusal(std::string_view reason) {
  static auto& family = metrics::registry().counter(
      "mcpgw_auth_refusals_total",
      "Requests refused by authentication: missing, invalid, forbidden, rate_limited (a key's "
      "rate limit) or locked_out (an address over limits.authFailuresPerMin)",
      {"reason"});
  family.at({reason}).inc();
}

}  // namespace

AuthResult Authenticator::authenticate(const Credentials& creds, bool local_rates) {
  if (!enabled()) {
    return AuthResult{};  // anonymous
  }
  if (const int wait_s = guesses_locked(creds.client); wait_s > 0) {
    AuthResult r;
    r.outcome = AuthOutcome::rate_limited;
    r.retry_after_s = wait_s;
    r.reason = "Too many requests: too many failed credentials from this address "
               "(limits.authFailuresPerMin)";
    count_refusal("locked_out");
    return r;
  }
  AuthResult r = check(creds, local_rates);
  switch (r.outcome) {
    case AuthOutcome::ok:
    case AuthOutcome::anonymous: break;
    case AuthOutcome::invalid:
      record_failure(creds.client);
      count_refusal("invalid");
      break;
    case AuthOutcome::missing: count_refusal("missing"); break;
    case AuthOutcome::rate_limited: count_refusal("rate_limited"); break;
    case AuthOutcome::forbidden: count_refusal("forbidden"); break;
    case AuthOutcome::unavailable: count_refusal("store_unavailable"); break;
  }
  return r;
}

void Authenticator::rate_limited(AuthResult& r, int retry_after_s) {
  r.outcome = AuthOutcome::rate_limited;
  r.principal.reset();
  r.retry_after_s = retry_after_s;
  r.reason = "Too many requests: this API key's rate limit is spent";
}

void Authenticator::count_rate_limited() { count_refusal("rate_limited"); }

bool Authenticator::take_local(AuthResult& r, double per_min) {
  // Token bucket: holds up to one minute's worth, refills continuously.
  auto [it, fresh] = buckets_.try_emplace(r.key_name);
  if (take(it->second, per_min, fresh)) {
    return true;
  }
  rate_limited(r, static_cast<int>((1.0 - it->second.tokens) * 60.0 / per_min) + 1);
  return false;
}

AuthResult Authenticator::check(const Credentials& creds, bool local_rates) {
  AuthResult r;
  // With API keys on, the headers that carry only a key come first: a client (LiteLLM's
  // convention) may send its key there and the user's own token for a server in Authorization.
  std::string_view key;
  if (store_) {
    key = bearer_value(creds.x_litellm_api_key);
    if (key.empty()) {
      key = bearer_value(creds.x_api_key);
    }
  }
  if (key.empty()) {
    key = bearer_value(creds.authorization);
  }
  if (key.empty()) {
    r.outcome = AuthOutcome::missing;
    r.reason = !jwt_    ? "Unauthorized: send an API key (Authorization: Bearer <key>, or x-api-key)"
               : store_ ? "Unauthorized: send an access token or an API key (Authorization: Bearer)"
                        : "Unauthorized: send an access token (Authorization: Bearer <token>)";
    return r;
  }
  if (jwt_ && (!store_ || looks_like_jwt(key))) {
    return authenticate_token(key);
  }
  const KeyRecord* rec = nullptr;
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  switch (store_->check(key, now, &rec, creds.memo)) {
    case KeyCheck::unavailable:
      r.outcome = AuthOutcome::unavailable;
      r.retry_after_s = 1;
      r.reason = "Service Unavailable: the key store cannot be read now, so no API key can be "
                 "checked (gateway.whenStoreDown is \"refuse\")";
      return r;
    case KeyCheck::unknown:
      r.outcome = AuthOutcome::invalid;
      r.reason = "Unauthorized: unknown API key";
      return r;
    case KeyCheck::revoked:
      r.key_name = rec->name;
      r.outcome = AuthOutcome::invalid;
      r.reason = "Unauthorized: this API key was revoked";
      return r;
    case KeyCheck::expired:
      r.key_name = rec->name;
      r.outcome = AuthOutcome::invalid;
      r.reason = "Unauthorized: this API key has expired";
      return r;
    case KeyCheck::ok:
      break;
  }
  r.key_name = rec->name;
  // Also when the key came in x-api-key and the client sent it in Authorization as well.
  r.key_in_authorization = bearer_value(creds.authorization) == key;
  if (rec->rate_per_min && !local_rates) {
    r.rate_per_min = rec->rate_per_min;
  } else if (rec->rate_per_min && !take_local(r, *rec->rate_per_min)) {
    return r;  // counted by authenticate()
  }
  if (store_->generation() != principals_generation_) {
    principals_.clear();  // the records were reloaded: their addresses changed
    principals_generation_ = store_->generation();
  }
  auto& p = principals_[rec];
  if (!p) {
    auto made = std::make_shared<Principal>();
    made->name = rec->name;
    made->grants.push_back({rec->servers, rec->tools, rec->deny_tools});
    p = std::move(made);
  }
  r.outcome = AuthOutcome::ok;
  r.principal = p;
  return r;
}

}  // namespace mcpgw::access
