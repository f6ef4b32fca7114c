#include "upstream/jwks_fetcher.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

namespace {
constexpr auto kFetchTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxJwks = 1024 * 1024;
}  // namespace

JwksFetcher::JwksFetcher(asio::any_io_executor ex, access::JwtVerifier& verifier,
                         std::chrono::milliseconds connect_timeout)
    : ex_(ex), verifier_(verifier), wake_(ex), fetched_(ex) {
  std::string error;
  const auto& cfg = verifier_.config();
  if (!parse_url(cfg.jwks, url_, error)) {
    verifier_.set_keys_error(fmt::format("JWKS URL: {}", error));
    return;
  }
  TlsSettings tls{cfg.tls_ca_file, cfg.tls_insecure};
  client_ = std::make_shared<HttpClient>(ex_, url_, std::move(tls), connect_timeout, "jwks");
}

void JwksFetcher::start() {
  if (!client_) {
    return;
  }
  asio::co_spawn(ex_, [self = shared_from_this()] { return self->loop(); }, asio::detached);
}

void JwksFetcher::stop() {
  stopped_ = true;
  wake_.set();
}

asio::awaitable<void> JwksFetcher::loop() {
  auto backoff = std::chrono::milliseconds(1000);
  const auto refresh = verifier_.config().refresh;
  while (!stopped_) {
    const bool ok = co_await fetch();
    auto wait = refresh;
    if (!ok) {
      wait = std::min<std::chrono::milliseconds>(backoff, refresh);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(60));
    } else {
      backoff = std::chrono::milliseconds(1000);
    }
    co_await wake_.wait_until(Clock::now() + wait);
  }
}

asio::awaitable<bool> JwksFetcher::refresh_now() {
  if (!client_ || stopped_) {
    co_return false;
  }
  if (fetching_) {
    const auto generation = verifier_.generation();
    co_await fetched_.wait_until(Clock::now() + kFetchTimeout + std::chrono::seconds(1));
    co_return verifier_.generation() != generation;
  }
  if (last_fetch_ != Clock::time_point{} && Clock::now() - last_fetch_ < verifier_.config().refetch_cooldown) {
    co_return false;
  }
  const auto generation = verifier_.generation();
  co_await fetch();
  co_return verifier_.generation() != generation;
}

asio::awaitable<bool> JwksFetcher::fetch() {
  auto self = shared_from_this();
  if (fetching_) {
    co_await fetched_.wait_until(Clock::now() + kFetchTimeout + std::chrono::seconds(1));
    co_return verifier_.key_count() > 0;
  }
  fetching_ = true;
  fetched_.reset();
  HttpRequest req;
  req.method = http::verb::get;
  req.target = url_.target;
  req.headers.set(http::field::accept, "application/json, application/jwk-set+json");
  const auto deadline = Clock::now() + kFetchTimeout;
  boost::system::error_code ec;
  std::string error;
  bool connect_failed = false;
  std::string body;
  bool ok = false;
  auto resp = co_await client_->send(req, deadline, ec, error, connect_failed);
  if (!resp) {
    error = fmt::format("JWKS fetch from {} failed: {}", url_.display(), error);
  } else if (resp->status() != 200) {
    error = fmt::format("JWKS fetch from {} failed: HTTP {}", url_.display(), resp->status());
  } else {
    const bool read = co_await resp->read_all(body, kMaxJwks, deadline, ec);
    std::string why;
    std::string skipped;
    if (!read) {
      error = fmt::format("JWKS fetch from {} failed: {}", url_.display(),
                          ec ? ec.message() : std::string("body too large"));
    } else if (!verifier_.set_jwks(body, why, &skipped)) {
      error = fmt::format("JWKS from {}: {}", url_.display(), why);
    } else {
      ok = true;
      spdlog::info("jwks: {} signing key(s) from {}", verifier_.key_count(), url_.display());
      if (!skipped.empty()) {
        spdlog::warn("jwks: skipped {}", skipped);
      }
    }
  }
  if (!ok) {
    spdlog::warn("{}", error);
    if (verifier_.key_count() == 0) {
      verifier_.set_keys_error(error);
    }
  }
  last_fetch_ = Clock::now();
  fetching_ = false;
  fetched_.set();
  co_return ok;
}

}  // namespace mcpgw::upstream
