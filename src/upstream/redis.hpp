#pragma once
// A Redis client on the event loop, for the state replicas share (docs/scale-out.md): hiredis's
// asynchronous context, its socket watched by Asio (hiredis reads and writes it when Asio says
// it can). One connection, commands pipelined on it; each command has a deadline; a lost
// connection is made again by the next command.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct redisAsyncContext;

namespace mcpgw::upstream {

namespace asio = boost::asio;

struct RedisReply {
  enum class Type : std::uint8_t { nil, integer, string, status, error, array };
  Type type = Type::nil;
  long long integer = 0;
  std::string str;  ///< a string, a status or an error
  std::vector<RedisReply> elements;
};

struct RedisOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;  ///< AUTH after connecting when set
  int db = 0;            ///< SELECT after connecting when not 0
  std::chrono::milliseconds timeout{1000};  ///< per command, and per connect
};

/// A command's words from strings of any kind: `redis_args("HSET", key, field, value)`. (g++ 12
/// cannot take a braced list of string literals inside a coroutine.)
template <class... A>
std::vector<std::string> redis_args(A&&... words) {
  return {std::string(std::forward<A>(words))...};
}

/// Parses "redis://[:password@]host[:port][/db]". nullopt (with `error`) otherwise.
std::optional<RedisOptions> parse_redis_url(std::string_view url, std::string& error);

class Redis : public std::enable_shared_from_this<Redis> {
 public:
  static std::shared_ptr<Redis> create(asio::any_io_executor ex, RedisOptions options);
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  /// Sends `argv` and waits for the reply. A Redis error reply is a reply (type error); the
  /// result is an error only when there is no reply: no connection, or the deadline passed.
  asio::awaitable<boost::system::result<RedisReply>> command(std::vector<std::string> argv);
  /// Connected now (the last command found it so).
  bool up() const noexcept { return ctx_ != nullptr && connected_; }
  /// What the last failure was ("" while up).
  const std::string& last_error() const noexcept { return last_error_; }

 private:
  struct Watcher;
  struct Pending;
  Redis(asio::any_io_executor ex, RedisOptions options);

  asio::awaitable<bool> ensure_connected();
  asio::awaitable<bool> connect();
  asio::awaitable<boost::system::result<RedisReply>> send(const std::vector<std::string>& argv);
  void lost(std::string why);
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);

  asio::any_io_executor ex_;
  RedisOptions options_;
  redisAsyncContext* ctx_ = nullptr;
  std::shared_ptr<Watcher> watcher_;
  bool connected_ = false;
  bool connecting_ = false;
  std::shared_ptr<Pending> connect_wait_;
  std::string last_error_;
};

}  // namespace mcpgw::upstream
