#pragma once
// A settable flag that coroutines can wait on, with a deadline. Single-threaded: every user
// runs on the gateway's one event loop, so no locks.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <vector>

namespace mcpgw {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

class Event {
 public:
  explicit Event(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  /// Waiters must hold a reference to whatever owns the Event: it must outlive them.
  ~Event() = default;

  /// Sets the flag and wakes every waiter.
  void set() {
    set_ = true;
    wake_all();
  }
  /// Wakes waiters without setting the flag (they re-check their own condition).
  void notify() { wake_all(); }
  void reset() noexcept { set_ = false; }
  bool is_set() const noexcept { return set_; }

  /// Waits until set(), notify(), `deadline`, or cancellation of the awaiting coroutine.
  /// Returns whether the flag is set. The Event must outlive the wait.
  asio::awaitable<bool> wait_until(Clock::time_point deadline) {
    if (set_) {
      co_return true;
    }
    asio::steady_timer timer(ex_, deadline);
    waiters_.push_back(&timer);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), &timer), waiters_.end());
    co_return set_;
  }

 private:
  void wake_all() {
    for (auto* t : waiters_) {
      t->cancel();
    }
  }

  asio::any_io_executor ex_;
  bool set_ = false;
  std::vector<asio::steady_timer*> waiters_;
};

}  // namespace mcpgw
