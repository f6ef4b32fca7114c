#pragma once
// Counts the server processes alive against limits.maxProcesses (all servers) and a server's
// own gateway.servers.NAME.maxProcesses, so that clients opening sessions cannot make the
// gateway fork without end (a server with isolation "session" runs one process per session).
#include <cstddef>
#include <string>
#include <unordered_map>

namespace mcpgw::upstream {

class ProcessBudget {
 public:
  /// Takes one process for `server`. False, with `why`, when a cap is reached; `server_max`
  /// 0 means only the global cap applies.
  bool acquire(const std::string& server, std::size_t server_max, std::size_t global_max,
               std::string& why);
  /// One process of `server` is gone.
  void release(const std::string& server) noexcept;
  std::size_t live() const noexcept { return live_; }

  /// The process-wide budget (there is one event loop and one set of children).
  static ProcessBudget& instance();

 private:
  std::unordered_map<std::string, std::size_t> per_server_;
  std::size_t live_ = 0;
};

}  // namespace mcpgw::upstream
