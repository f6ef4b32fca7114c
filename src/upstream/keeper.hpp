#pragma once
// The keeper: a small process forked when the gateway starts, whose one job is to make sure
// server processes never outlive the gateway. The gateway tells it the process group of each
// server it starts and of each it has finished off. If the gateway dies without cleaning up
// (SIGKILL, a crash), the keeper reads end-of-file on its pipe and kills the groups still
// listed: SIGTERM, then SIGKILL after a grace period. Servers that ignore SIGTERM or hide
// behind `sh -c` die with their group.
#include <sys/types.h>

#include <string>

namespace mcpgw::upstream {

class Keeper {
 public:
  /// Forks the keeper. Call before the event loop starts and before any other thread exists.
  static bool start(std::string& error);
  /// The keeper's pid, or 0 when none runs (check-config, unit tests).
  static pid_t pid() noexcept;
  /// A server's process group now exists / is gone. No-ops without a keeper.
  static void track(pid_t pgid) noexcept;
  static void untrack(pid_t pgid) noexcept;
};

}  // namespace mcpgw::upstream
