#pragma once
// Child processes for stdio servers: spawn in their own process group, reap, kill the group.
#include "config/config.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <functional>
#include <map>
#include <string>
#include <sys/types.h>
#include <unordered_map>

namespace mcpgw::upstream {

struct ChildProcess {
  pid_t pid = -1;      ///< also the process group id
  int stdin_fd = -1;   ///< our write end of the child's stdin
  int stdout_fd = -1;  ///< our read end of the child's stdout
  int stderr_fd = -1;  ///< our read end of the child's stderr
  int exec_fd = -1;    ///< closes at exec; carries a 5-byte report if exec or chdir failed
};

/// Forks `server.command` with its args, env (added to ours, each `${user:NAME}` filled from
/// `user_values`) and cwd, in a new process group.
/// Returns false with `error` set if no child could be made (no fds leak). Whether the exec
/// itself worked arrives on `exec_fd`: EOF means it did; otherwise pass what was read to
/// describe_exec_failure. Nothing here blocks.
bool spawn(const config::ServerConfig& server, ChildProcess& out, std::string& error,
           const std::map<std::string, std::string>& user_values = {});

/// The reason in an `exec_fd` report of `n` bytes, or empty if exec succeeded (n == 0).
std::string describe_exec_failure(const config::ServerConfig& server, const char* report,
                                  std::size_t n);

/// Sends `sig` to the whole process group led by `pid` (no-op for pid <= 0).
void kill_group(pid_t pid, int sig) noexcept;

/// Makes the gateway the subreaper of everything it starts: a server's children whose parent
/// exits (an `sh -c` wrapper, a launcher) become the gateway's, not init's.
void become_subreaper() noexcept;

/// SIGKILLs every child of the gateway except `except` (the keeper), with its process group
/// if it leads one: orphans that a server left behind and that escaped its group. Returns how
/// many there were. For the end of a shutdown, when no server should be left.
std::size_t kill_orphans(pid_t except) noexcept;

/// Collects exited children (SIGCHLD) and tells whoever spawned them. One per event loop.
class Reaper {
 public:
  using OnExit = std::function<void(int wait_status)>;

  explicit Reaper(boost::asio::io_context& ioc);
  void watch(pid_t pid, OnExit on_exit);
  /// Stops reporting `pid`'s exit; it is still reaped when it ends.
  void forget(pid_t pid);
  /// Reaps anything that already exited (also called on each SIGCHLD).
  void poll();
  std::size_t watched() const noexcept { return watched_.size(); }

  static Reaper& instance();
  static void install(Reaper* reaper);

 private:
  void arm();

  boost::asio::signal_set signals_;
  std::unordered_map<pid_t, OnExit> watched_;
};

/// "exited with status 1" / "killed by signal 9".
std::string describe_wait_status(int status);

}  // namespace mcpgw::upstream
