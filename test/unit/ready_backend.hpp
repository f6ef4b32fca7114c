#pragma once
// A base for fake servers in unit tests: ready at once, never failing, answering only what a
// test's `send_request` says. `info` holds the capabilities it offered.
#include "upstream/backend.hpp"

#include <string>

namespace mcpgw::fakes {

class ReadyBackend : public upstream::Backend {
 public:
  ReadyBackend(asio::any_io_executor ex, std::string name)
      : ex_(std::move(ex)), name_(std::move(name)) {}

  const std::string& name() const noexcept override { return name_; }
  upstream::BackendState state() const noexcept override { return upstream::BackendState::ready; }
  const upstream::InitInfo& info() const noexcept override { return info_; }
  const std::string& last_error() const noexcept override { return none_; }
  const std::string& degraded() const noexcept override { return none_; }
  std::size_t in_flight() const noexcept override { return 0; }
  void start() override {}
  asio::awaitable<void> stop() override { co_return; }
  asio::awaitable<bool> wait_ready(Clock::time_point) override { co_return true; }
  void cancel(upstream::Call& call, boost::system::error_code ec, std::string_view) override {
    call.ec = ec;
    call.done.set();
  }
  void send(boost::json::object&&) override {}

 protected:
  asio::any_io_executor ex_;
  upstream::InitInfo info_;

 private:
  std::string name_;
  std::string none_;
};

}  // namespace mcpgw::fakes
