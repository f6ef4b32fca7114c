#include "upstream/stdio_backend.hpp"
#include "upstream/keeper.hpp"
#include "upstream/process_budget.hpp"

#include "common/error.hpp"
#include "common/scope_exit.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <array>
#include <csignal>
#include <cstring>

namespace mcpgw::upstream {

namespace {
constexpr auto kStopGrace = std::chrono::seconds(2);
constexpr auto kReapWait = std::chrono::milliseconds(100);
constexpr std::size_t kMaxLoggedLine = 2000;
constexpr std::size_t kMaxBatch = 64;
constexpr std::size_t kReadBuffer = 64 * 1024;  ///< stdout buffer between large messages

std::string_view clip(std::string_view s) { return s.substr(0, kMaxLoggedLine); }

/// Waits for the report pipe of a spawned child: it closes on exec, and a failed exec or chdir
/// writes why before the child exits. Returns that reason, or "" if exec worked.
asio::awaitable<std::string> exec_failure(asio::any_io_executor ex,
                                          const config::ServerConfig& server, int exec_fd) {
  asio::posix::stream_descriptor report(ex, exec_fd);
  std::array<char, 8> buf{};
  std::size_t got = 0;
  for (;;) {
    auto [ec, n] = co_await report.async_read_some(asio::buffer(buf.data() + got, buf.size() - got),
                                                   asio::as_tuple(asio::use_awaitable));
    got += n;
    if (ec || got == buf.size()) {
      break;
    }
  }
  co_return describe_exec_failure(server, buf.data(), got);
}

/// Closes our ends of a child's stdin, stdout and stderr.
void close_pipes(const ChildProcess& child) {
  ::close(child.stdin_fd);
  ::close(child.stdout_fd);
  ::close(child.stderr_fd);
}
}  // namespace

StdioBackend::StdioBackend(asio::any_io_executor ex, const config::ServerConfig& server,
                           const config::GatewayConfig& gateway, ClientIdentity identity,
                           BackendListener& listener)
    : RpcBackend(ex, server, gateway, std::move(identity), listener), exited_(ex), reaped_(ex) {}

StdioBackend::~StdioBackend() {
  if (child_.pid > 0) {
    kill_group(child_.pid, SIGKILL);
    if (!child_exited_) {
      Reaper::instance().forget(child_.pid);
    }
    Keeper::untrack(child_.pid);
  }
  if (holds_process_) {
    ProcessBudget::instance().release(server_.name);
  }
}

void StdioBackend::release_child() {
  if (child_.pid > 0) {
    Keeper::untrack(child_.pid);
  }
  child_ = ChildProcess{};
  if (holds_process_) {
    holds_process_ = false;
    ProcessBudget::instance().release(server_.name);
  }
}

asio::awaitable<bool> StdioBackend::run_once() {
  set_state(BackendState::starting);
  child_exited_ = false;
  protocol_error_.clear();
  exited_.reset();
  reaped_.reset();
  std::map<std::string, std::string> user_values;
  auto wipe = [&user_values] {  // a user's values leave memory once the child has its copy
    for (auto& [name, value] : user_values) {
      OPENSSL_cleanse(value.data(), value.size());
    }
  };
  auto wipe_on_return = scope_exit(wipe);  // whichever way this start ends
  if (!server_.user_secrets.empty() &&
      (!co_await read_user_secrets(user_values) || stopping_)) {
    co_return false;  // no value, or stopped while it was read: no process
  }
  std::string error;
  if (!ProcessBudget::instance().acquire(server_.name, server_.options.max_processes,
                                         gateway_.limits.max_processes, error)) {
    last_error_ = error;
    co_return false;
  }
  holds_process_ = true;
  ChildProcess child;
  const bool spawned = spawn(server_, child, error, user_values);
  wipe();
  if (!spawned) {
    last_error_ = error;
    release_child();
    co_return false;
  }
  child_ = child;
  const pid_t pid = child.pid;
  Keeper::track(pid);
  std::weak_ptr<StdioBackend> weak = me();
  Reaper::instance().watch(pid, [weak, pid](int status) {
    if (auto self = weak.lock(); self && self->child_.pid == pid) {
      self->exit_status_ = status;
      self->child_exited_ = true;
      self->reaped_.set();
      self->on_gone();
    }
  });
  // Did exec work? The report pipe closes on exec; a failure writes why before exiting.
  const std::string why = co_await exec_failure(ex_, server_, child.exec_fd);
  if (!why.empty()) {
    last_error_ = why;
    close_pipes(child);
    co_await reaped_.wait_until(Clock::now() + kStopGrace);
    release_child();
    co_return false;
  }
  spdlog::info("[{}] started pid {}: {}", server_.name, pid, server_.command);
  stdin_ = std::make_shared<asio::posix::stream_descriptor>(ex_, child.stdin_fd);
  auto out = std::make_shared<asio::posix::stream_descriptor>(ex_, child.stdout_fd);
  auto err = std::make_shared<asio::posix::stream_descriptor>(ex_, child.stderr_fd);
  asio::co_spawn(ex_, read_stdout(out), asio::detached);
  asio::co_spawn(ex_, read_stderr(err), asio::detached);

  // The gateway performs the handshake itself; clients never see it.
  const auto result = co_await handshake(Clock::now() + gateway_.timeouts.startup);
  const bool ok = result == Handshake::ok;
  if (result == Handshake::transport_failed) {
    co_await reaped_.wait_until(Clock::now() + kReapWait);
    last_error_ = fmt::format("exited during initialize: {}", exit_reason());
  }

  if (ok) {
    co_await serve_child(pid);
  }

  // Tear down: fail what is outstanding, then make sure the whole process group is gone.
  fail_outstanding(Errc::upstream_closed);
  co_await close_child();
  co_return ok;
}

asio::awaitable<void> StdioBackend::serve_child(pid_t pid) {
  spdlog::info("[{}] ready (protocol {}, pid {})", server_.name, info_.protocol_version, pid);
  became_ready();
  if (auto listen = listen_request(); !listen.empty()) {
    transmit(std::move(listen), 0);  // its notifications come on stdout as any other
  }
  while (!child_exited_ && !stdout_closed_ && !stopping_) {
    co_await exited_.wait_until(Clock::time_point::max());
  }
  // Not ready from this instant: no request may be written to a process that is gone.
  set_state(BackendState::restarting);
  if (!stopping_) {
    // stdout usually closes a moment before the exit is reaped: wait briefly for the status.
    co_await reaped_.wait_until(Clock::now() + kReapWait);
    last_error_ = protocol_error_.empty() ? exit_reason()
                                          : fmt::format("{} ({})", protocol_error_, exit_reason());
    spdlog::error("[{}] {}", server_.name, last_error_);
  }
}

void StdioBackend::relisten() {
  if (state_ != BackendState::ready) {
    return;  // the listen sent when the server is ready has them
  }
  // The old listen is cancelled (this revision's listen lives as long as its request), and
  // the new one takes its place.
  json::object params;
  params["requestId"] = fmt::format("mcpgw-listen-{}", listens_);
  params["reason"] = "mcpgw listens again, for other resources";
  transmit(jsonrpc::make_notification(mcp::method::kCancelled, std::move(params)), 0);
  ++listens_;
  if (auto listen = listen_request(); !listen.empty()) {
    transmit(std::move(listen), 0);
  }
}

asio::awaitable<void> StdioBackend::close_child() {
  write_queue_.clear();
  queued_bytes_ = 0;
  if (stdin_) {
    boost::system::error_code ignored;
    stdin_->close(ignored);
    stdin_.reset();
  }
  if (child_.pid > 0) {
    // Wait on the reaper, not on stdout: a process that closed stdout may still be running.
    if (!child_exited_ && stopping_) {
      // stdin is closed: a well-behaved server exits now (the spec's stdio shutdown order).
      co_await reaped_.wait_until(Clock::now() + kStopGrace);
    }
    if (!child_exited_) {
      kill_group(child_.pid, SIGTERM);
      co_await reaped_.wait_until(Clock::now() + kStopGrace);
    }
    kill_group(child_.pid, SIGKILL);  // and anything the server left behind in its group
    if (!child_exited_) {
      co_await reaped_.wait_until(Clock::now() + kStopGrace);
    }
    if (!child_exited_) {
      Reaper::instance().forget(child_.pid);
    }
  }
  release_child();
  stdout_closed_ = false;
}

asio::awaitable<void> StdioBackend::read_stdout(std::shared_ptr<asio::posix::stream_descriptor> out) {
  auto keep = self();
  const std::size_t max_line = gateway_.limits.max_message_bytes;
  std::vector<char> buf(kReadBuffer);
  std::size_t len = 0;
  for (;;) {
    if (len == buf.size()) {
      if (buf.size() > max_line) {
        spdlog::error("[{}] a message on stdout exceeds limits.maxMessageBytes ({} bytes)",
                      server_.name, max_line);
        protocol_error_ = "sent a message larger than limits.maxMessageBytes";
        kill_group(child_.pid, SIGKILL);
        break;
      }
      buf.resize(std::min(buf.size() * 2, max_line + 1));
    }
    auto [ec, n] = co_await out->async_read_some(asio::buffer(buf.data() + len, buf.size() - len),
                                                 asio::as_tuple(asio::use_awaitable));
    if (ec) {
      break;
    }
    std::size_t start = 0;
    std::size_t scan = len;
    len += n;
    while (scan < len) {
      const void* nl = std::memchr(buf.data() + scan, '\n', len - scan);
      if (nl == nullptr) {
        break;
      }
      const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
      on_line(std::string_view(buf.data() + start, end - start));
      start = end + 1;
      scan = start;
    }
    if (start > 0) {
      std::memmove(buf.data(), buf.data() + start, len - start);
      len -= start;
      if (buf.size() > kReadBuffer && len < kReadBuffer) {
        // A large message grew the buffer: give the memory back instead of keeping the peak.
        std::vector<char> smaller(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
        smaller.resize(kReadBuffer);
        buf.swap(smaller);
      }
    }
  }
  // The reader ends when the child closes stdout (normally because it exited).
  if (out->native_handle() == child_.stdout_fd && child_.pid > 0) {
    stdout_closed_ = true;
    on_gone();
  }
  boost::system::error_code ignored;
  out->close(ignored);
}

asio::awaitable<void> StdioBackend::read_stderr(std::shared_ptr<asio::posix::stream_descriptor> err) {
  auto keep = self();
  std::string buf;
  std::array<char, 4096> chunk{};
  for (;;) {
    auto [ec, n] = co_await err->async_read_some(asio::buffer(chunk),
                                                 asio::as_tuple(asio::use_awaitable));
    if (ec) {
      break;
    }
    buf.append(chunk.data(), n);
    std::size_t pos;
    while ((pos = buf.find('\n')) != std::string::npos) {
      std::string_view line(buf.data(), pos);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      if (!line.empty()) {
        spdlog::info("[{}] {}", server_.name, clip(line));
      }
      buf.erase(0, pos + 1);
    }
    if (buf.size() > 64 * 1024) {  // an endless line: log what we have
      spdlog::info("[{}] {}", server_.name, clip(buf));
      buf.clear();
    }
  }
  if (!buf.empty()) {
    spdlog::info("[{}] {}", server_.name, clip(buf));
  }
  boost::system::error_code ignored;
  err->close(ignored);
}

void StdioBackend::on_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (line.empty()) {
    return;
  }
  auto parsed = jsonrpc::parse(line, gateway_.limits.max_json_depth);
  if (!parsed) {
    // Servers must not print anything else on stdout; some do. Log it and carry on, but a
    // reply we cannot read fails its request now rather than at its deadline.
    spdlog::warn("[{}] ignoring a stdout line that is not JSON: {}", server_.name, clip(line));
    fail_unusable(line, fmt::format("not JSON, or nested deeper than limits.maxJsonDepth ({})",
                                    gateway_.limits.max_json_depth));
    return;
  }
  deliver(std::move(*parsed));
}

void StdioBackend::on_gone() {
  exited_.set();
  if (state_ == BackendState::starting) {
    // Wakes the handshake at once instead of at the startup deadline.
    fail_pending(make_error_code(Errc::upstream_closed), "exited during initialize");
  }
}

std::string StdioBackend::exit_reason() const {
  if (child_exited_) {
    return fmt::format("process {}", describe_wait_status(exit_status_));
  }
  return "closed its stdout";
}

void StdioBackend::begin_stop() {
  if (stdin_) {
    boost::system::error_code ignored;
    stdin_->close(ignored);  // EOF: the polite way to ask a stdio server to exit
  }
  exited_.notify();
}

asio::awaitable<void> StdioBackend::finish_stop() {
  if (child_.pid > 0) {
    kill_group(child_.pid, SIGKILL);
  }
  co_return;
}

void StdioBackend::transmit(json::object&& message, std::int64_t wire_id) {
  std::string line = jsonrpc::serialize(message);
  if (stdin_ && queued_bytes_ + line.size() + 1 > gateway_.limits.max_backend_queue_bytes) {
    // The server stopped reading: refuse at once instead of queueing without end.
    const auto why = fmt::format("server '{}' is not reading its input: {} bytes wait to be "
                                 "written (limits.maxBackendQueueBytes)",
                                 server_.name, queued_bytes_);
    spdlog::warn("[{}] {}", server_.name, why);
    if (wire_id != 0) {
      fail_call(wire_id, make_error_code(Errc::backend_busy), why);
    }
    return;
  }
  write_line(std::move(line));
}

void StdioBackend::write_line(std::string line) {
  if (!stdin_) {
    return;
  }
  line.push_back('\n');
  queued_bytes_ += line.size();
  write_queue_.push_back(std::move(line));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(ex_, flush_writes(), asio::detached);
  }
}

asio::awaitable<void> StdioBackend::flush_writes() {
  auto keep = self();
  auto in = stdin_;
  std::vector<std::string> batch;
  std::vector<asio::const_buffer> buffers;
  while (!write_queue_.empty() && in && in == stdin_) {
    // Everything queued goes out in one gathered write: one syscall for many messages.
    batch.clear();
    buffers.clear();
    while (!write_queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(std::move(write_queue_.front()));
      write_queue_.pop_front();
    }
    for (const auto& s : batch) {
      buffers.emplace_back(asio::buffer(s));
    }
    auto [ec, n] = co_await asio::async_write(*in, buffers, asio::as_tuple(asio::use_awaitable));
    for (const auto& sent : batch) {
      queued_bytes_ -= std::min(queued_bytes_, sent.size());
    }
    if (ec) {
      spdlog::debug("[{}] write to stdin failed: {}", server_.name, ec.message());
      break;
    }
  }
  writing_ = false;
  if (!write_queue_.empty() && stdin_) {
    writing_ = true;
    asio::co_spawn(ex_, flush_writes(), asio::detached);
  }
}

}  // namespace mcpgw::upstream
