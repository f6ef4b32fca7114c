#include "upstream/keeper.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <set>
#include <sys/prctl.h>
#include <unistd.h>

namespace mcpgw::upstream {

namespace {

int g_fd = -1;       ///< our write end of the keeper's pipe
pid_t g_pid = 0;

constexpr int kGraceSteps = 20;  // × 100 ms between SIGTERM and SIGKILL

void nap_100ms() {
  timespec ts{0, 100'000'000};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/// Reads "+PGID\n" and "-PGID\n" until the gateway is gone, then kills what is left.
[[noreturn]] void keeper_main(int fd) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2}) {
    ::signal(sig, SIG_IGN);  // only the end of the pipe ends the keeper
  }
  ::prctl(PR_SET_NAME, "mcpgw-keeper");
  std::set<pid_t> groups;
  char buf[4096];
  std::string pending;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string line = pending.substr(start, nl - start);
      if (line.size() < 2) {
        continue;
      }
      const auto pgid = static_cast<pid_t>(std::strtol(line.c_str() + 1, nullptr, 10));
      if (pgid <= 1) {
        continue;
      }
      if (line[0] == '+') {
        groups.insert(pgid);
      } else {
        groups.erase(pgid);
      }
    }
    pending.erase(0, start);
  }
  for (pid_t g : groups) {
    ::kill(-g, SIGTERM);
  }
  for (int i = 0; i < kGraceSteps && !groups.empty(); ++i) {
    nap_100ms();
    for (auto it = groups.begin(); it != groups.end();) {
      it = ::kill(-*it, 0) != 0 && errno == ESRCH ? groups.erase(it) : std::next(it);
    }
  }
  for (pid_t g : groups) {
    ::kill(-g, SIGKILL);
  }
  ::_exit(0);
}

void send_line(char op, pid_t pgid) noexcept {
  if (g_fd < 0 || pgid <= 1) {
    return;
  }
  char line[32];
  const int n = std::snprintf(line, sizeof line, "%c%d\n", op, static_cast<int>(pgid));
  // Short lines are written whole or not at all; the keeper reads as fast as we write.
  (void)!::write(g_fd, line, static_cast<std::size_t>(n));
}

}  // namespace

bool Keeper::start(std::string& error) {
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    error = fmt::format("keeper: pipe: {}", std::strerror(errno));
    return false;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = fmt::format("keeper: fork: {}", std::strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // not in the gateway's group: a signal to that group is not for us
    ::close(fds[1]);
    if (const int null = ::open("/dev/null", O_RDWR); null >= 0) {
      // Not the gateway's stdout/stderr: whoever reads those sees them close with the gateway.
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (null > 2 && null != fds[0]) {
        ::close(null);
      }
    }
    if (fds[0] != 3) {
      ::dup2(fds[0], 3);
      ::close(fds[0]);
    }
    ::close_range(4, ~0U, 0);  // hold nothing of the gateway's open
    keeper_main(3);
  }
  ::close(fds[0]);
  ::fcntl(fds[1], F_SETFL, O_NONBLOCK);  // never stall the event loop on the keeper
  g_fd = fds[1];
  g_pid = pid;
  return true;
}

pid_t Keeper::pid() noexcept { return g_pid; }
void Keeper::track(pid_t pgid) noexcept { send_line('+', pgid); }
void Keeper::untrack(pid_t pgid) noexcept { send_line('-', pgid); }

}  // namespace mcpgw::upstream
