#pragma once
// PostgreSQL through libpq, for the durable stores the replicas share (docs/scale-out.md).
// `PgConnection` runs on the event loop: libpq in non-blocking mode, its socket watched by Asio,
// a deadline on the connect and on every statement. `PgBlocking` is the same for the command
// line (`mcpgw keys`), where blocking is what a user waits for.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;

namespace mcpgw::store {

namespace asio = boost::asio;

using PgParams = std::vector<std::optional<std::string>>;  ///< $1, $2…; nullopt is NULL

struct PgResult {
  bool ok = false;
  std::string error;     ///< the server's message, or why there was no answer
  std::string sqlstate;  ///< e.g. "23505" (unique violation); empty without one
  std::vector<std::vector<std::optional<std::string>>> rows;  ///< of the last statement
  std::int64_t affected = 0;  ///< rows the last statement changed
};

/// A column's text as an integer; nullopt for NULL or anything else.
std::optional<std::int64_t> column_int(const std::optional<std::string>& value) noexcept;

/// "postgres://…" or "postgresql://…".
bool is_postgres_url(std::string_view text) noexcept;
/// The URL with its password replaced by "***", for logs and errors.
std::string redact_password(std::string_view url);

/// One connection on the event loop. One statement at a time: the caller does not start a
/// second before the first has returned. Not thread-safe.
class PgConnection : public std::enable_shared_from_this<PgConnection> {
 public:
  static std::shared_ptr<PgConnection> create(asio::any_io_executor ex, std::string url,
                                              std::chrono::milliseconds timeout);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  /// Connects (within the timeout). False with last_error() otherwise.
  asio::awaitable<bool> connect();
  /// Runs `sql`: with `params`, one statement ($1…); without, any number of them (the rows are
  /// the last one's). Not ok when the server refused it, the deadline passed or the connection
  /// is lost (up() then says false).
  asio::awaitable<PgResult> exec(std::string sql, PgParams params = {});
  /// The channels NOTIFYed since the last call, waiting up to `wait` for one. nullopt when the
  /// connection is lost.
  asio::awaitable<std::optional<std::vector<std::string>>> notifications(
      std::chrono::milliseconds wait);
  bool up() const noexcept;
  const std::string& last_error() const noexcept { return last_error_; }
  /// Ends the connection; a statement waiting returns not ok.
  void close();

 private:
  PgConnection(asio::any_io_executor ex, std::string url, std::chrono::milliseconds timeout);
  enum class Wait : std::uint8_t { read, write };
  /// Waits until the socket is ready for `w`; false when the deadline passed or it was closed.
  asio::awaitable<bool> wait(Wait w, std::chrono::steady_clock::time_point deadline);
  /// libpq would resolve a host name itself, blocking: the URL's host is resolved here, and
  /// its address handed to libpq (`hostaddr`, left empty when there is nothing to resolve).
  asio::awaitable<bool> resolve_host(std::string& hostaddr);
  bool adopt_socket();
  void drain_notifications();
  PgResult fail(std::string why);

  asio::any_io_executor ex_;
  std::string url_;
  std::chrono::milliseconds timeout_;
  pg_conn* conn_ = nullptr;
  asio::posix::stream_descriptor sock_;
  int fd_ = -1;
  asio::steady_timer timer_;
  std::vector<std::string> notified_;
  std::string last_error_;
};

/// A blocking connection, for the command line.
class PgBlocking {
 public:
  /// Null with `error` when it cannot connect within `timeout_s`.
  static std::unique_ptr<PgBlocking> connect(const std::string& url, int timeout_s,
                                             std::string& error);
  /// connect, then runs `schema` (a migration script): null with `error` ("cannot set up the
  /// `what` …") when it fails.
  static std::unique_ptr<PgBlocking> connect(const std::string& url, int timeout_s,
                                             const std::string& schema, std::string_view what,
                                             std::string& error);
  ~PgBlocking();
  PgBlocking(const PgBlocking&) = delete;
  PgBlocking& operator=(const PgBlocking&) = delete;
  /// As PgConnection::exec.
  PgResult exec(const std::string& sql, const PgParams& params = {});

 private:
  explicit PgBlocking(pg_conn* c) : conn_(c) {}
  pg_conn* conn_;
};

}  // namespace mcpgw::store
