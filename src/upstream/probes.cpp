#include "upstream/probes.hpp"

#include "upstream/server_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

Probes::Probes(asio::any_io_executor ex, ServerPool& pool, const config::Config& cfg,
               ClientIdentity identity)
    : ex_(std::move(ex)), pool_(pool), cfg_(cfg), identity_(std::move(identity)) {}

bool Probes::probed(const config::ServerConfig& server) {
  return server.transport != config::Transport::stdio &&
         server.options.isolation == config::Isolation::session &&
         !server.options.forward_authorization && server.options.pass_headers.empty() &&
         server.options.auth.type == config::UpstreamAuth::Type::none;  // no caller, no token
}

void Probes::start() {
  if (!cfg_.gateway.health.probe) {
    return;
  }
  for (const auto& server : cfg_.servers) {
    if (probed(server)) {
      asio::co_spawn(ex_, run(server), asio::detached);
    }
  }
}

asio::awaitable<void> Probes::run(config::ServerConfig server) {
  auto self = shared_from_this();  // the loop may outlive whoever started it
  asio::steady_timer timer(ex_);
  timers_.insert(&timer);
  while (!stopping_) {
    co_await probe_once(server);
    if (stopping_) {
      break;
    }
    timer.expires_after(cfg_.gateway.health.probe_interval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  timers_.erase(&timer);
}

asio::awaitable<void> Probes::probe_once(const config::ServerConfig& server) {
  BackendPtr b = pool_.make(server, identity_, *this);
  live_.insert(b);
  b->start();
  const bool ready = co_await b->wait_ready(Clock::now() + cfg_.gateway.timeouts.startup);
  Result r;
  r.ok = ready;
  if (!ready) {
    r.reason = b->last_error().empty() ? std::string("no answer within timeouts.startupMs")
                                       : b->last_error();
  }
  co_await b->stop();
  live_.erase(b);
  r.at = Clock::now();
  auto& last = results_[server.name];
  if (last.at == Clock::time_point{} || last.ok != r.ok) {
    if (r.ok) {
      spdlog::info("probe: server {} answers", server.name);
    } else {
      spdlog::warn("probe: server {} does not answer: {}", server.name, r.reason);
    }
  }
  if (!stopping_) {
    last = std::move(r);
  }
}

asio::awaitable<void> Probes::stop() {
  stopping_ = true;
  for (auto* t : timers_) {
    t->cancel();
  }
  std::set<BackendPtr> live = live_;
  for (const auto& b : live) {
    co_await b->stop();
  }
}

const Probes::Result* Probes::result(std::string_view server) const {
  auto it = results_.find(server);
  return it == results_.end() ? nullptr : &it->second;
}

}  // namespace mcpgw::upstream
