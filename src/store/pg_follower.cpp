#include "store/pg_follower.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::store {

namespace {

constexpr auto kRereadEvery = std::chrono::seconds(30);
constexpr auto kFirstPause = std::chrono::milliseconds(250);
constexpr auto kLongestPause = std::chrono::milliseconds(5000);

}  // namespace

PgFollower::PgFollower(asio::any_io_executor ex, Options options, Rows rows)
    : ex_(ex), o_(std::move(options)), rows_(std::move(rows)), pause_(ex) {}

std::shared_ptr<PgFollower> PgFollower::create(asio::any_io_executor ex, Options options,
                                               Rows rows) {
  return std::shared_ptr<PgFollower>(
      new PgFollower(std::move(ex), std::move(options), std::move(rows)));
}

void PgFollower::start() {
  asio::co_spawn(ex_, [self = shared_from_this()]() { return self->run(); }, asio::detached);
}

void PgFollower::stop() {
  stopped_ = true;
  up_ = false;
  pause_.cancel();
  if (pg_) {
    pg_->close();
  }
}

void PgFollower::down(std::string why) {
  if (up_ || why != why_) {
    spdlog::error("{} {}: {}", o_.what, where(), why);
  }
  up_ = false;
  why_ = std::move(why);
}

asio::awaitable<void> PgFollower::run() {
  auto pause = kFirstPause;
  while (!stopped_) {
    pg_ = PgConnection::create(ex_, o_.url, o_.timeout);
    if (!co_await pg_->connect()) {
      down(pg_->last_error());
    } else if (!co_await follow(*pg_)) {
      pause = kFirstPause;  // it was up: try again soon
    }
    if (stopped_) {
      break;
    }
    pg_->close();
    pause_.expires_after(pause);
    co_await pause_.async_wait(asio::as_tuple(asio::use_awaitable));
    pause = std::min(pause * 2,
                     std::chrono::duration_cast<std::chrono::milliseconds>(kLongestPause));
  }
}

asio::awaitable<bool> PgFollower::follow(PgConnection& pg) {
  auto r = co_await pg.exec(o_.schema);
  if (!r.ok) {
    down("cannot bring the schema up to date: " + r.error);
    co_return true;
  }
  r = co_await pg.exec(fmt::format("LISTEN {}", o_.channel));
  if (!r.ok || !co_await read(pg)) {
    down(r.ok ? pg.last_error() : r.error);
    co_return true;
  }
  if (!why_.empty() && !stopped_) {
    spdlog::info("{} {}: up", o_.what, where());
  }
  up_ = !stopped_;
  why_.clear();
  for (;;) {
    auto told = co_await pg.notifications(kRereadEvery);
    if (stopped_) {
      co_return false;
    }
    if (!told || !co_await read(pg)) {
      down(pg.last_error().empty() ? "the connection was lost" : pg.last_error());
      co_return false;
    }
  }
}

asio::awaitable<bool> PgFollower::read(PgConnection& pg) {
  auto r = co_await pg.exec(o_.select);
  if (r.ok && !stopped_) {
    rows_(std::move(r.rows));
  }
  co_return r.ok;
}

}  // namespace mcpgw::store
