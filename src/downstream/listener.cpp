// Accepting connections (admission, accept back-off), each connection's life, draining, and
// the memory watch (heap trim, load shedding).
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

bool HttpServer::Impl::open_acceptor(tcp::acceptor& acceptor, const std::string& host,
                                     std::uint16_t port, std::string& error) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    error = fmt::format("invalid listen address '{}': {}", host, ec.message());
    return false;
  }
  tcp::endpoint ep(address, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) {
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    acceptor.bind(ep, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    error = fmt::format("cannot listen on {}:{}: {}", host, port, ec.message());
    return false;
  }
  return true;
}

bool HttpServer::Impl::listen(const std::string& host, std::uint16_t port, std::string& error) {
  return open_acceptor(acceptor_, host, port, error);
}

bool HttpServer::Impl::listen_metrics(const std::string& host, std::uint16_t port,
                                      std::string& error) {
  if (!open_acceptor(metrics_acceptor_, host, port, error)) {
    return false;
  }
  // A scraper names this listener by its address, not by the gateway's public names
  // (gateway.allowedHosts); on loopback, only loopback names (DNS rebinding).
  metrics_hosts_.clear();
  if (config::is_loopback_host(host)) {
    metrics_hosts_ = {"localhost", "127.0.0.1", "[::1]"};
  }
  return true;
}

std::uint16_t HttpServer::Impl::port() const noexcept {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

std::uint16_t HttpServer::Impl::metrics_port() const noexcept {
  boost::system::error_code ec;
  return metrics_acceptor_.is_open() ? metrics_acceptor_.local_endpoint(ec).port() : 0;
}

void HttpServer::Impl::start() {
  started_ = true;
  if (jwks_) {
    jwks_->start();
  }
  asio::co_spawn(ioc_, accept_loop(acceptor_, false), asio::detached);
  if (metrics_acceptor_.is_open()) {
    asio::co_spawn(ioc_, accept_loop(metrics_acceptor_, true), asio::detached);
  }
  asio::co_spawn(ioc_, release_memory(), asio::detached);
  asio::co_spawn(ioc_, watch_memory(), asio::detached);
}

asio::awaitable<void> HttpServer::Impl::shutdown(std::chrono::milliseconds drain) {
  stopping_ = true;
  if (jwks_) {
    jwks_->stop();
  }
  boost::system::error_code ec;
  acceptor_.close(ec);
  metrics_acceptor_.close(ec);
  // Let in-flight requests finish (bounded), then end every session and connection.
  asio::steady_timer timer(ioc_);
  const auto deadline = Clock::now() + drain;
  while (relay_.in_flight() > 0 && Clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (relay_.in_flight() > 0) {
    spdlog::warn("drain: {} request(s) still in flight after {} ms", relay_.in_flight(),
                 drain.count());
  }
  co_await relay_.stop();
  // Give stream writers a moment to send what the relay finished, then close the rest.
  timer.expires_after(std::chrono::milliseconds(50));
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  for (auto* s : connections_) {
    s->socket().shutdown(tcp::socket::shutdown_both, ec);
    s->close();
  }
}

asio::awaitable<void> HttpServer::Impl::accept_loop(tcp::acceptor& acceptor, bool metrics_only) {
  asio::steady_timer backoff(ioc_);
  auto pause = std::chrono::milliseconds(0);
  Clock::time_point last_warning{};
  std::size_t failures = 0;
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) {
        break;
      }
      // Out of file descriptors (or memory): the connection waits in the backlog. Retrying at
      // once would spin; back off, and log once a second at most.
      ++failures;
      if (Clock::now() - last_warning > std::chrono::seconds(1)) {
        spdlog::warn("accept: {} ({} time(s)); backing off", ec.message(), failures);
        last_warning = Clock::now();
        failures = 0;
      }
      pause = std::clamp(pause * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
      backoff.expires_after(pause);
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    pause = std::chrono::milliseconds(0);
    const auto peer = socket.remote_endpoint(ec).address();
    if (ec) {
      continue;  // already gone
    }
    if (const auto verdict = admission_.admit(peer); verdict != Admission::Verdict::ok) {
      spdlog::warn("refusing a connection from {}: {}", peer.to_string(),
                   verdict == Admission::Verdict::full ? "limits.maxConnections reached"
                                                       : "limits.maxConnectionsPerClient reached");
      Admission::refuse(socket, verdict);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    trim_mark_ = std::max(trim_mark_, admission_.open());
    asio::co_spawn(ioc_, run_connection(std::move(socket), peer, metrics_only), asio::detached);
  }
}

asio::awaitable<void> HttpServer::Impl::run_connection(tcp::socket socket, asio::ip::address peer,
                                                       bool metrics_only) {
  Conn c{beast::tcp_stream(std::move(socket)), beast::flat_buffer(read_buffer_max()), nullptr,
         {}, true, peer, peer.to_string()};
  c.metrics_only = metrics_only;
  connections_.insert(&c.stream);
  // Runs however the coroutine ends, also when its frame is destroyed without resuming (then
  // the server may be gone already).
  auto cleanup = scope_exit([this, &c, alive = std::weak_ptr<void>(alive_)] {
    if (!alive.expired()) {
      connections_.erase(&c.stream);
      admission_.release(c.peer);
      if (!c.counted_as.empty()) {
        admission_.release_principal(c.counted_as);
      }
    }
    boost::system::error_code ec;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c.stream.close();
  });
  try {
    co_await serve(c);
  } catch (const std::exception& e) {
    spdlog::error("connection error: {}", e.what());
  }
}

std::size_t HttpServer::Impl::read_buffer_max() const {
  return gw_.limits.max_header_bytes + net::kReadChunk;
}

asio::awaitable<void> HttpServer::Impl::release_memory() {
  asio::steady_timer timer(ioc_);
  while (!stopping_) {
    timer.expires_after(std::chrono::seconds(2));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (trim_mark_ >= 256 && admission_.open() <= trim_mark_ / 2) {
      memory::release_free_memory();
      trim_mark_ = admission_.open();
    } else {
      memory::decay_free_memory();
    }
  }
}

asio::awaitable<void> HttpServer::Impl::watch_memory() {
  asio::steady_timer timer(ioc_);
  while (!stopping_) {
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const std::size_t rss = memory::resident_bytes();
    if (!shedding_ && rss > memory_budget_) {
      shedding_ = true;
      spdlog::warn("memory: {} MiB resident is over the budget of {} MiB "
                   "(limits.memoryBudgetBytes); refusing new requests until it falls",
                   rss >> 20, memory_budget_ >> 20);
      memory::release_free_memory();
    } else if (shedding_ && rss < memory_budget_ / 10 * 9) {
      shedding_ = false;
      spdlog::info("memory: {} MiB resident, under the budget again; accepting requests",
                   rss >> 20);
    }
  }
}

std::size_t HttpServer::Impl::budget_of(const config::Limits& limits) {
  if (limits.memory_budget_bytes != 0) {
    return limits.memory_budget_bytes;
  }
  const std::size_t available = memory::available_bytes();
  return available != 0 ? available / 10 * 8 : SIZE_MAX;
}

HttpServer::HttpServer(asio::io_context& ioc, relay::Relay& relay, const config::Config& cfg,
                       access::Authenticator& auth)
    : impl_(std::make_unique<Impl>(ioc, relay, cfg, auth)) {}
HttpServer::~HttpServer() = default;
bool HttpServer::listen(const std::string& host, std::uint16_t port, std::string& error) {
  return impl_->listen(host, port, error);
}
std::uint16_t HttpServer::port() const noexcept { return impl_->port(); }
bool HttpServer::listen_metrics(const std::string& host, std::uint16_t port, std::string& error) {
  return impl_->listen_metrics(host, port, error);
}
std::uint16_t HttpServer::metrics_port() const noexcept { return impl_->metrics_port(); }
void HttpServer::start() { impl_->start(); }
void HttpServer::set_reload(Reload reload) { impl_->set_reload(std::move(reload)); }
void HttpServer::reconfigured() { impl_->reconfigured(); }
void HttpServer::auth_changed() { impl_->auth_changed(); }
asio::awaitable<void> HttpServer::shutdown(std::chrono::milliseconds drain) {
  return impl_->shutdown(drain);
}

}  // namespace mcpgw::downstream
