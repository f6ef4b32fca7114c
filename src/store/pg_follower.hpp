#pragma once
// Follows a table in PostgreSQL on the event loop, for what the replicas share (keys, tool
// pins): connects, brings the table's schema up to date, LISTENs on its channel and reads it
// when told, and every 30 s (which also finds a dead connection). A lost connection is made
// again after a pause (250 ms, doubling to 5 s). Nothing on the request path waits for it.
#include "store/postgres.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace mcpgw::store {

class PgFollower : public std::enable_shared_from_this<PgFollower> {
 public:
  struct Options {
    std::string url;
    std::chrono::milliseconds timeout{2000};  ///< connect and each statement
    std::string schema;   ///< the migration script (migrate.hpp)
    std::string channel;  ///< NOTIFYed on every change
    std::string select;   ///< what is read
    std::string what;     ///< for logs: "key store"
  };
  /// Given the rows of each read, on the loop.
  using Rows = std::function<void(std::vector<std::vector<std::optional<std::string>>>&&)>;

  static std::shared_ptr<PgFollower> create(asio::any_io_executor ex, Options options,
                                            Rows rows);
  void start();
  void stop();
  /// Connected, listening, and read since the connection was made.
  bool up() const noexcept { return up_; }
  /// Why it is not up.
  const std::string& why() const noexcept { return why_; }
  /// The URL with its password hidden.
  std::string where() const { return redact_password(o_.url); }

 private:
  PgFollower(asio::any_io_executor ex, Options options, Rows rows);
  asio::awaitable<void> run();
  /// One connection's life: false when it ended after being up.
  asio::awaitable<bool> follow(PgConnection& pg);
  asio::awaitable<bool> read(PgConnection& pg);
  void down(std::string why);

  asio::any_io_executor ex_;
  Options o_;
  Rows rows_;
  std::shared_ptr<PgConnection> pg_;
  asio::steady_timer pause_;
  bool up_ = false;
  bool stopped_ = false;
  std::string why_ = "not connected yet";
};

}  // namespace mcpgw::store
