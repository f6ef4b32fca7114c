#pragma once
#include "config/config.hpp"
#include "upstream/backend.hpp"
#include "upstream/process.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <deque>
#include <unordered_map>

namespace mcpgw::upstream {

/// What the gateway tells a server about itself in initialize.
struct ClientIdentity {
  json::object capabilities;
  json::object client_info;
};

/**
 * An MCP server run as a child process speaking newline-delimited JSON-RPC on stdin/stdout.
 *
 * One coroutine supervises the process: spawn, initialize handshake, serve, and on exit fail
 * every outstanding call at once, then restart with exponential backoff. stdout is read by one
 * reader; writes are queued and flushed by one writer in batches. stderr goes to the log.
 * The process must ignore SIGPIPE: writing to a server that just died is then an error code.
 */
class StdioBackend final : public Backend, public std::enable_shared_from_this<StdioBackend> {
 public:
  StdioBackend(asio::any_io_executor ex, const config::ServerConfig& server,
               const config::GatewayConfig& gateway, ClientIdentity identity,
               BackendListener& listener);
  ~StdioBackend() override;

  // mcpgw::upstream::Backend
  const std::string& name() const noexcept override { return server_.name; }
  BackendState state() const noexcept override { return state_; }
  const InitInfo& info() const noexcept override { return info_; }
  const std::string& last_error() const noexcept override { return last_error_; }
  long pid() const noexcept override { return child_.pid > 0 ? child_.pid : 0; }
  unsigned restarts() const noexcept override { return restarts_; }
  unsigned consecutive_failures() const noexcept override { return failures_; }
  std::size_t in_flight() const noexcept override { return pending_.size(); }
  void start() override;
  asio::awaitable<void> stop() override;
  asio::awaitable<bool> wait_ready(Clock::time_point deadline) override;
  CallPtr send_request(json::object&& request) override;
  void cancel(Call& call, boost::system::error_code ec, std::string_view reason) override;
  void send(json::object&& message) override;

 private:
  asio::awaitable<void> supervise();
  asio::awaitable<bool> run_once();
  asio::awaitable<void> read_stdout(std::shared_ptr<asio::posix::stream_descriptor> out);
  asio::awaitable<void> read_stderr(std::shared_ptr<asio::posix::stream_descriptor> err);
  asio::awaitable<void> flush_writes();
  void write_line(std::string line);
  void on_line(std::string_view line);
  /// The child is gone (stdout closed or reaped).
  void on_gone();
  /// "process exited with status 1", "process killed by signal 9", "closed its stdout".
  std::string exit_reason() const;
  void fail_pending(boost::system::error_code ec, const std::string& detail);
  void set_state(BackendState s);
  asio::awaitable<void> close_child();

  asio::any_io_executor ex_;
  const config::ServerConfig& server_;
  const config::GatewayConfig& gateway_;
  ClientIdentity identity_;
  BackendListener& listener_;

  BackendState state_ = BackendState::stopped;
  InitInfo info_;
  std::string last_error_;
  std::string protocol_error_;  ///< why the gateway killed the process, if it did
  unsigned restarts_ = 0;
  unsigned failures_ = 0;
  bool stopping_ = false;
  bool started_ = false;

  ChildProcess child_;
  std::shared_ptr<asio::posix::stream_descriptor> stdin_;
  bool child_exited_ = false;
  bool stdout_closed_ = false;
  int exit_status_ = 0;
  Event exited_;      ///< child gone: stdout closed or process reaped
  Event reaped_;      ///< process reaped (its exit status is known)
  Event ready_;       ///< state_ == ready
  Event stopped_;     ///< supervisor finished
  Event wake_;        ///< ends the restart backoff early (stop)

  std::int64_t next_id_ = 1;
  std::unordered_map<std::int64_t, CallPtr> pending_;
  std::deque<std::string> write_queue_;
  bool writing_ = false;
};

}  // namespace mcpgw::upstream
