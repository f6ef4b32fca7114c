#pragma once
#include "upstream/process.hpp"
#include "upstream/rpc_backend.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <deque>

namespace mcpgw::upstream {

/**
 * An MCP server run as a child process speaking newline-delimited JSON-RPC on stdin/stdout.
 *
 * Each life of the process: spawn, initialize handshake, serve; on exit every outstanding call
 * fails at once and the supervisor restarts it with exponential backoff. stdout is read by one
 * reader; writes are queued and flushed by one writer in batches. stderr goes to the log.
 * The process must ignore SIGPIPE: writing to a server that just died is then an error code.
 */
class StdioBackend final : public RpcBackend {
 public:
  StdioBackend(asio::any_io_executor ex, const config::ServerConfig& server,
               const config::GatewayConfig& gateway, ClientIdentity identity,
               BackendListener& listener);
  ~StdioBackend() override;

  long pid() const noexcept override { return child_.pid > 0 ? child_.pid : 0; }

 private:
  asio::awaitable<bool> run_once() override;
  void transmit(json::object&& message, std::int64_t wire_id) override;
  void begin_stop() override;
  asio::awaitable<void> finish_stop() override;
  void relisten() override;

  asio::awaitable<void> read_stdout(std::shared_ptr<asio::posix::stream_descriptor> out);
  asio::awaitable<void> read_stderr(std::shared_ptr<asio::posix::stream_descriptor> err);
  asio::awaitable<void> flush_writes();
  void write_line(std::string line);
  void on_line(std::string_view line);
  /// The child is gone (stdout closed or reaped).
  void on_gone();
  /// "process exited with status 1", "process killed by signal 9", "closed its stdout".
  std::string exit_reason() const;
  /// The server is ready: serves until its process ends (or stop()).
  asio::awaitable<void> serve_child(pid_t pid);
  asio::awaitable<void> close_child();
  /// The child is gone for good: forget it, untrack its group, give back its process slot.
  void release_child();
  std::shared_ptr<StdioBackend> me() { return std::static_pointer_cast<StdioBackend>(self()); }

  std::string protocol_error_;  ///< why the gateway killed the process, if it did
  ChildProcess child_;
  std::shared_ptr<asio::posix::stream_descriptor> stdin_;
  bool child_exited_ = false;
  bool stdout_closed_ = false;
  int exit_status_ = 0;
  Event exited_;  ///< child gone: stdout closed or process reaped
  Event reaped_;  ///< process reaped (its exit status is known)

  bool holds_process_ = false;  ///< counted in the ProcessBudget

  std::deque<std::string> write_queue_;
  std::size_t queued_bytes_ = 0;  ///< in write_queue_ and in the write under way
  bool writing_ = false;
};

}  // namespace mcpgw::upstream
